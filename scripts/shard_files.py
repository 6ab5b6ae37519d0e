"""
Split test files over a version's shards by how long each took, so the shards end together.

    python scripts/shard_files.py --shards 2 --shard 1 --durations tests/durations.json < files

Reads the test files (one per line) on standard input and prints the ones shard ``--shard`` of
``--shards`` runs. Files are taken longest first, each given to the shard with the least time so
far (ties: the lowest shard), from the seconds ``tests/durations.json`` records per file (written by
``--record`` from a run's JUnit reports); a file it does not know counts as the median. The split
depends only on the inputs, so every shard computes the same one. A round-robin by name put both
job-kind contract suites in one shard: 3.1's halves took 2,400 s and 900 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path


def split(files: list[str], durations: dict[str, float], shards: int) -> list[list[str]]:
    """
    Return the files of each shard: longest first, each to the shard with the least time so far.

    :param files: The test files, in any order.
    :param durations: Seconds per file, from earlier runs.
    :param shards: How many shards.
    """
    default = statistics.median(durations.values()) if durations else 1.0
    weight = {name: float(durations.get(name, default)) for name in files}
    loads = [0.0] * shards
    chosen: list[list[str]] = [[] for _ in range(shards)]
    for name in sorted(files, key=lambda name: (-weight[name], name)):
        shard = min(range(shards), key=lambda index: (loads[index], index))
        loads[shard] += weight[name]
        chosen[shard].append(name)
    return [sorted(names) for names in chosen]


def record(reports: list[Path]) -> dict[str, float]:
    """
    Return the seconds per test file in JUnit reports: the longest any report gives it (its slowest version).

    :param reports: ``junit.xml`` files of pytest runs from the repository root.
    """
    per_report: list[dict[str, float]] = []
    for report in reports:
        seconds: dict[str, float] = defaultdict(float)
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            parts = case.get("classname", "").split(".")
            modules = [index for index, part in enumerate(parts) if part.startswith("test_")]
            if modules:
                seconds["/".join(parts[: modules[0] + 1]) + ".py"] += float(case.get("time") or 0)
        per_report.append(seconds)
    longest: dict[str, float] = {}
    for seconds in per_report:
        for name, value in seconds.items():
            longest[name] = max(longest.get(name, 0.0), round(value, 1))
    return dict(sorted(longest.items()))


def main() -> None:
    """Print one shard's files, or (``--record``) write the durations of JUnit reports."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--durations", type=Path, default=Path("tests/durations.json"))
    parser.add_argument("--shards", type=int)
    parser.add_argument("--shard", type=int, help="1-based")
    parser.add_argument("--record", type=Path, nargs="+", metavar="JUNIT_XML")
    args = parser.parse_args()
    if args.record:
        args.durations.write_text(json.dumps(record(args.record), indent=1) + "\n")
        return
    durations = json.loads(args.durations.read_text()) if args.durations.exists() else {}
    files = [line.strip() for line in sys.stdin if line.strip()]
    for name in split(files, durations, args.shards)[args.shard - 1]:
        print(name)


if __name__ == "__main__":
    main()

"""The pytest matrix's split of test files over a version's shards (scripts/shard_files.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("shard_files", REPO / "scripts" / "shard_files.py")
shard_files = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shard_files)


def test_the_two_longest_files_go_to_different_shards_and_the_loads_even_out():
    durations = {"a.py": 280, "b.py": 230, "c.py": 100, "d.py": 90, "e.py": 50, "f.py": 40}
    first, second = shard_files.split(list(durations), durations, 2)
    assert ("a.py" in first) != ("b.py" in first)
    loads = [sum(durations[name] for name in shard) for shard in (first, second)]
    assert abs(loads[0] - loads[1]) <= 40
    assert sorted(first + second) == sorted(durations)


def test_the_split_is_the_same_whatever_the_input_order_and_unknown_files_count_as_the_median():
    durations = {"a.py": 10, "b.py": 20, "c.py": 30}
    files = ["new.py", "c.py", "a.py", "b.py"]
    assert shard_files.split(files, durations, 2) == shard_files.split(list(reversed(files)), durations, 2)
    assert shard_files.split(["x.py", "y.py"], {}, 2) == [["x.py"], ["y.py"]]


def test_recording_sums_each_files_cases_and_keeps_the_slowest_report(tmp_path):
    def report(name: str, cases: list[tuple[str, float]]) -> Path:
        path = tmp_path / name
        rows = "".join(f'<testcase classname="{c}" name="t" time="{t}"/>' for c, t in cases)
        path.write_text(f"<testsuites><testsuite>{rows}</testsuite></testsuites>")
        return path

    fast = report("fast.xml", [("tests.unit.test_a", 1.0), ("tests.unit.test_a.Klass", 2.0)])
    slow = report("slow.xml", [("tests.unit.test_a", 5.0), ("tests.emulator.hooks.test_b", 0.5)])
    assert shard_files.record([fast, slow]) == {
        "tests/emulator/hooks/test_b.py": 0.5,
        "tests/unit/test_a.py": 5.0,
    }

"""
The serving half of ``make demo``'s summary, read from the ``airflow dags test`` log: the deployment
becoming Active, the evaluation's pass rate, and the usage SeekrFlow reported.

``python scripts/demo_summary.py <dags-test.log>`` prints :func:`summary_rows`, one row a line. Trigger
lines (deferred waits) repeat the worker's messages; each distinct row is shown once.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

# What stands before and after a task log line's message: a structlog timestamp and level, or the
# classic ``[time] {file:line} LEVEL - ``; the logger name and source location.
_PREFIX = re.compile(r"^[0-9T:.Z-]+ \[[a-z ]+\] |^\[[^]]*\] \{[^}]*\} [A-Z]+ - ")
_SUFFIX = re.compile(r" +\[(airflow|task|airflow[^]]*)[^]]*\] loc=.*$")

DEPLOYMENT = re.compile(
    r"Created deployment|Reusing deployment|Deployment [^ ]+: status=|Deployment [^ ]+ is Active:"
    r"|Demoted deployment|Promoted deployment|No deployment to demote"
)
EVALUATION = re.compile(r"^Evaluating |: \d+ passed, \d+ failed, \d+ errored of \d+ \(pass rate ")
LINK = re.compile(r"^SeekrFlow [A-Za-z -]+ [^ ]+ in SeekrFlow's web app: https?://")
USAGE = re.compile(r"Fine-tune [^ ]+ completed: |Deployment [^ ]+ is Active: |tokens in, ")


def message(line: str) -> str:
    """Return a log line's message, without its timestamp, level, logger and location."""
    return _SUFFIX.sub("", _PREFIX.sub("", line.rstrip("\n")))


def _matching(lines: Iterable[str], pattern: re.Pattern[str]) -> list[str]:
    seen: dict[str, None] = {}
    for line in lines:
        text = message(line)
        if pattern.search(text):
            seen.setdefault(text)
    return list(seen)


def deployment_rows(lines: list[str]) -> list[str]:
    """Return the deployment's rows: created, Pending, Active, demoted by the teardown, promoted, Active again."""
    return _matching(lines, DEPLOYMENT)


def link_rows(lines: list[str]) -> list[str]:
    """Return the rows of the deployment's and the jobs' links in SeekrFlow's web app (the tasks' extra links)."""
    return _matching(lines, LINK)


def evaluation_rows(lines: list[str]) -> list[str]:
    """Return the evaluation's rows: what it sent, and its pass rate, latency and tokens."""
    return _matching(lines, EVALUATION)


def usage_rows(lines: list[str]) -> list[str]:
    """Return what SeekrFlow reported of the run's cost: the fine-tune's accelerator time, the tokens used."""
    usage = []
    for text in _matching(lines, USAGE):
        if text.startswith("Fine-tune "):
            usage.append(f"fine-tune: {text.split(', in ', 1)[-1]}")
        elif text.startswith("Deployment "):
            usage.append(f"deployment {text.split()[1]}: {text.rsplit('; ', 1)[-1]}")
        else:
            usage.append(f"evaluation: {text.rsplit('; ', 1)[-1]}")
    # The deployment's counters grow as it serves: its last report is the one that counts.
    last_deployment = [row for row in usage if row.startswith("deployment ")][-1:]
    return [row for row in usage if not row.startswith("deployment ")] + last_deployment


def summary_rows(lines: list[str]) -> list[str]:
    """Return the summary's rows: each section's title, then its rows."""
    rows: list[str] = []
    for title, section in (
        ("deployment", deployment_rows(lines)),
        ("links", link_rows(lines)),
        ("evaluation", evaluation_rows(lines)),
        ("usage", usage_rows(lines)),
    ):
        rows.append(f"---------------- {title} ----------------")
        rows.extend(section or ["(nothing in the log)"])
    return rows


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8", errors="replace") as log:
        lines = log.readlines()
    print("\n".join(summary_rows(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

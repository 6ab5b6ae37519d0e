"""DAG-parse cost: extra import time of the provider's operator/sensor modules after ``airflow.sdk``.

Each figure is the best (and the median) of N fresh interpreters: ``import airflow.sdk`` first
(untimed), then the timed import of one module, or the timed load of one example DAG file (what the
DAG processor does for each file). Baselines in the same run: dbt Cloud's operator module
(``airflow.providers.dbt.cloud.operators.dbt``, for our operators and the DAG files) and sensor
module (``airflow.providers.dbt.cloud.sensors.dbt``, for our sensors).
Target: <= 50 ms per provider module.

The operator and sensor modules import no hook, client or job kind (pydantic models, the
transports) and no trigger: those load when a task runs (``tests/unit/test_parse_imports.py``).
The last column shows whether a module or DAG file loads ``airflow.triggers.base``, which builds
pydantic models on import.

    python benchmarks/bench_parse.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, WORK, save_result, work_dir  # noqa: E402

# Every public operator and sensor module (the shared bases and mixins are measured through them).
MODULES = tuple(
    f"airflow_provider_seekrflow.{folder}.{path.stem}"
    for folder in ("operators", "sensors")
    for path in sorted(
        (Path(__file__).resolve().parents[1] / "airflow_provider_seekrflow" / folder).glob("*.py")
    )
    if not path.stem.startswith(("_", "job_")) and path.stem != "deployment_task"
)
# What each of our rows is compared with: dbt Cloud's module of the same role.
BASELINES = {
    "operator": "airflow.providers.dbt.cloud.operators.dbt",
    "sensor": "airflow.providers.dbt.cloud.sensors.dbt",
}


def role(target: str) -> str:
    """Return which dbt Cloud module a row is compared with: ``sensor`` for a sensor module, else ``operator``."""
    return "sensor" if ".sensors." in target else "operator"


_CHILD = r"""
import importlib, importlib.util, json, sys, time, warnings
warnings.simplefilter("ignore")
import airflow.sdk  # noqa: F401  (already paid by any DAG file)
kind, target = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if kind == "module":
    importlib.import_module(target)
else:
    spec = importlib.util.spec_from_file_location("bench_dag_file", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
print(json.dumps({"ms": elapsed * 1000, "triggers_base_loaded": "airflow.triggers.base" in sys.modules}))
"""


def measure(kind: str, target: str, repeat: int, env: dict[str, str]) -> dict:
    samples = []
    loaded = False
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, kind, target],
            # cwd outside the repo: with ``-c`` the first sys.path entry is the working directory,
            # which would shadow the PYTHONPATH copy of the variant.
            capture_output=True, text=True, env=env, timeout=300, check=False, cwd=str(WORK),
        )  # fmt: skip
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            raise RuntimeError(f"{target}: {proc.stderr[-2000:]}")
        data = json.loads(lines[-1])
        samples.append(data["ms"])
        loaded = data["triggers_base_loaded"]
    return {"target": target, "kind": kind, "best_ms": min(samples), "median_ms": statistics.median(samples),
            "samples_ms": samples, "imports_triggers_base": loaded}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = work_dir()
    env = dict(os.environ)
    env["AIRFLOW_HOME"] = str(work / "airflow-home")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    dags = sorted((ROOT / "example_dags").glob("*.py"))

    rows = [
        {"variant": "baseline", "role": name, **measure("module", target, args.repeat, env)}
        for name, target in BASELINES.items()
    ]
    for module in MODULES:
        rows.append({"variant": "as is", "role": role(module), **measure("module", module, args.repeat, env)})
    for dag in dags:
        rows.append({"variant": "as is", "role": "operator", **measure("dag", str(dag), args.repeat, env)})
    dbt = {r["role"]: r for r in rows if r["variant"] == "baseline"}
    for row in rows:
        row["dbt_target"] = dbt[row["role"]]["target"]
        row["dbt_ms"] = dbt[row["role"]]["best_ms"]
        row["vs_dbt"] = row["best_ms"] / row["dbt_ms"]
        row["name"] = Path(row["target"]).name if row["kind"] == "dag" else row["target"]

    print(
        f"{'variant':10} {'what':58} {'best ms':>8} {'median':>8} {'dbt ms':>8} {'vs dbt':>7}  triggers.base"
    )
    for r in rows:
        print(f"{r['variant']:10} {r['name']:58} {r['best_ms']:8.1f} {r['median_ms']:8.1f} {r['dbt_ms']:8.1f} "
              f"{r['vs_dbt']:6.2f}x  {'yes' if r['imports_triggers_base'] else 'no'}")  # fmt: skip
    verdicts = {
        f"{r['name'].rsplit('.', 2)[-2]}.{r['name'].rsplit('.', 1)[-1]} <= 50 ms": r["best_ms"] <= 50
        for r in rows
        if r["variant"] == "as is" and r["kind"] == "module"
    }
    for name, ok in verdicts.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    save_result("parse", {"rows": rows, "verdicts": verdicts, "repeat": args.repeat})
    return 0


if __name__ == "__main__":
    sys.exit(main())

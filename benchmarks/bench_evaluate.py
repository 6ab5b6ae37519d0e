"""Evaluate a served model on 1,000 prompts: the provider's operator at concurrency 16 vs a sequential seekrai loop.

The emulator (a subprocess) serves a fine-tune trained on ``PAIRS`` pairs, and waits
``--latency`` seconds (100 ms) before each answer (``chat_latency``). In the same run:

- ``provider``: ``SeekrFlowEvaluateModelOperator.execute`` (prompts streamed from a local JSONL,
  at most ``--concurrency`` requests at once, answers streamed to a JSONL), at 1,000 and at 4,000
  prompts, so its peak RSS growth shows whether memory grows with the number of prompts;
- ``seekrai``: a sequential loop over the official client's ``chat.completions.create`` at 1,000
  prompts.

Each runs in its own process; reported: wall time, speedup (seekrai wall / provider wall), peak RSS
growth of the evaluating process (VmHWM after the run minus VmRSS after imports and a warm-up).
Targets: speedup >= 8x at concurrency 16; provider RSS growth at 4,000 prompts within 2 MiB (or
10 %) of that at 1,000.

    python benchmarks/bench_evaluate.py [--prompts 1000] [--large 4000] [--concurrency 16] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import API_KEY, BENCH_DIR, conn_env, python, run_json, save_result, work_dir  # noqa: E402

PAIRS = 200


def _pairs() -> list[tuple[str, str]]:
    return [
        (f"What is fact number {i}?", f"Fact {i} is that shoes of size {i} fit well.") for i in range(PAIRS)
    ]


def write_prompts(path: Path, count: int) -> None:
    """``count`` prompts cycling over the trained questions; every fifth expects another answer (fails)."""
    pairs = _pairs()
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(count):
            question, answer = pairs[i % PAIRS]
            expected = answer if i % 5 else "something else"
            record = {"messages": [{"role": "user", "content": question}], "expected": expected}
            fh.write(json.dumps(record) + "\n")


def serve_model(base_url: str) -> str:
    """Upload the pairs, fine-tune on them, deploy; return the served model id."""
    headers = {"Authorization": API_KEY}
    lines = [
        json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
        for q, a in _pairs()
    ]
    uploaded = requests.put(
        f"{base_url}/v1/flow/files",
        files={"files": ("pairs.jsonl", ("\n".join(lines) + "\n").encode())},
        data={"purpose": "fine-tune"},
        headers=headers,
        timeout=60,
    )
    uploaded.raise_for_status()
    project = requests.post(
        f"{base_url}/v1/flow/projects",
        json={"id": None, "name": "bench evaluate", "description": "benchmark"},
        headers=headers,
        timeout=60,
    ).json()
    body = {
        "project_id": project["id"],
        "training_config": {
            "training_files": [uploaded.json()["id"]],
            "model": "meta-llama/Llama-3.1-8B",
            "n_epochs": 1,
        },
        "infrastructure_config": {"accel_type": "H100", "n_accel": 1},
    }
    job = requests.post(f"{base_url}/v1/flow/fine-tune", json=body, headers=headers, timeout=60).json()
    job = _until(lambda: requests.get(f"{base_url}/v1/flow/fine-tunes/{job['id']}", headers=headers, timeout=60).json(),
                 lambda j: j["status"] == "completed")  # fmt: skip
    deployment = requests.post(
        f"{base_url}/v1/flow/deployments",
        json={"model_type": "Fine-tuned Run", "model_id": job["id"], "name": "bench model",
              "description": "benchmark model", "n_instances": 1},
        headers=headers,
        timeout=60,
    ).json()  # fmt: skip
    _until(lambda: requests.get(f"{base_url}/v1/flow/deployments/{deployment['id']}", headers=headers, timeout=60).json(),
           lambda d: d["status"] == "Active")  # fmt: skip
    return str(job["id"])


def _until(fetch, done, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"still not done: {value}")
        time.sleep(0.1)


def run(kind: str, base_url: str, model: str, prompts: Path, answers: Path, concurrency: int) -> dict:
    env = dict(os.environ)
    env["AIRFLOW_CONN_SEEKRFLOW_DEFAULT"] = conn_env(base_url)
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    cmd = [python(), str(BENCH_DIR / "_evaluate_client.py"), kind, base_url, model, str(prompts)]
    if kind == "provider":
        cmd += [str(answers), str(concurrency)]
    result = run_json(cmd, env=env, timeout=1800)
    print(f"  {kind:8} {result['total']!s:>5} prompts  {result['wall_s']:7.2f} s  "
          f"RSS +{result['rss_growth_kib'] / 1024:.1f} MiB  {result['status']}", flush=True)  # fmt: skip
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument(
        "--large", type=int, default=4000, help="prompts of the provider's memory run; 0 skips it"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the emulator waits per answer")
    args = parser.parse_args()
    work = work_dir()
    from airflow_provider_seekrflow.emulator import SeekrFlowEmulator

    sizes = [args.prompts] + ([args.large] if args.large else [])
    files = {n: work / f"evaluate-{n}.jsonl" for n in sizes}
    for count, path in files.items():
        write_prompts(path, count)
    rows: list[dict] = []
    with SeekrFlowEmulator(
        api_key=API_KEY, subprocess=True, data_dir=str(work / "emu-evaluate"), cleanup=True
    ) as emu:
        assert emu.base_url is not None
        emu.configure(fine_tune_duration=0.2, deployment_duration=0.2)
        model = serve_model(emu.base_url)
        emu.configure(chat_latency=args.latency)
        for count in sizes:
            rows.append({"prompts": count, **run("provider", emu.base_url, model, files[count],
                                                  work / "evaluate-answers.jsonl", args.concurrency)})  # fmt: skip
        rows.append(
            {"prompts": args.prompts, **run("seekrai", emu.base_url, model, files[args.prompts], work, 1)}
        )
    provider = rows[0]
    seekrai = rows[-1]
    speedup = seekrai["wall_s"] / provider["wall_s"]
    result = {
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "prompts": args.prompts,
        "speedup": speedup,
        "rows": rows,
    }
    if args.large:
        large = rows[1]
        result["rss_growth_mib"] = {str(r["prompts"]): r["rss_growth_kib"] / 1024 for r in rows[:2]}
        result["rss_flat"] = large["rss_growth_kib"] - provider["rss_growth_kib"] <= max(
            2048, 0.1 * provider["rss_growth_kib"]
        )
    print()
    print(f"provider at concurrency {args.concurrency}: {provider['wall_s']:.2f} s; seekrai sequential: "
          f"{seekrai['wall_s']:.2f} s; speedup {speedup:.1f}x (target >= 8x)")  # fmt: skip
    if args.large:
        print("provider peak RSS growth: " + ", ".join(f"{k} prompts {v:.1f} MiB" for k, v in result["rss_growth_mib"].items())
              + f" (flat: {result['rss_flat']})")  # fmt: skip
    save_result("evaluate", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

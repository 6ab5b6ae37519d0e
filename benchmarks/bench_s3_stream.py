"""Stream a 1 GiB object from S3 (moto) into SeekrFlow's multipart upload vs copying it to /dev/null.

moto's S3 server (``tests/emulator/sources/moto_s3.py``, a subprocess on loopback) holds a 1 GiB
fine-tune JSONL object (the same content as ``bench_upload.py``'s file). Each measurement runs in
its own process with the same environment (``AIRFLOW_CONN_AWS_DEFAULT`` pointing at moto, no ambient
AWS credentials, profile, config file or instance metadata), and reports wall seconds, the CPU
seconds of the measuring process and of the moto server, and the peak RSS growth of the measuring
process (VmHWM after minus VmRSS before, the mark reset with /proc/self/clear_refs first). Setup
(imports, connection lookups, the listing's HEAD request) is done before the clock starts.

Measured kinds:

* ``copy-devnull``: ``ObjectStoragePath(uri, conn_id="aws_default")`` opened as the provider's
  ranged reads open it (``block_size=REMOTE_CHUNK_BYTES, cache_type="none"``), ``shutil.copyfileobj``
  to /dev/null in REMOTE_CHUNK_BYTES reads (the product's value, 8 MiB when this was written; every
  result records the value in force): the same filesystem client, no upload;
* ``copy-devnull-default``: the same, opened with s3fs's defaults (``path.open("rb")``: 50 MiB
  blocks, read-ahead cache), for reference;
* ``copy-devnull-stream``: the same filesystem, read as one streamed GET (s3fs's ``open_async``,
  ``read(8 MiB)`` in the filesystem's event loop, each read returning what has arrived), for
  reference: what the client can do without ranged requests (not a baseline of the target);
* ``provider``: ``sources.resolve(uri)`` then ``SeekrFlowHook().upload_stream(source.open, ...)``
  to the discard sink (``sink_server.py``) and to the SeekrFlow emulator (a subprocess);
* ``provider-local``: ``SeekrFlowHook().upload_file`` of the same JSONL from local disk, to both
  targets, for reference (what streaming from S3 costs over a local file).

Targets (the issue): provider peak RSS growth <= 32 MiB, provider wall <= 1.25x the faster of the
two copy-to-/dev/null baselines (``copy-devnull``, ``copy-devnull-default``), measured in the same
run. The measuring process also records how the provider opened the object (the stream handed to
``ReadAhead``: fsspec's buffered file = ranged GETs, else a streamed GET); when it streamed, the
ratio to ``copy-devnull-stream`` (the same client reading the same way) gets a verdict too.

moto serves a ranged GET by reading the whole object (``FakeKey.value``) and slicing it: ~0.5 s per
request on a 1 GiB object whatever the range, so 8 MiB reads would measure moto, not the client.
Unless ``--stock-moto`` is given, the moto server process gets a ``sitecustomize`` (written to
``benchmarks/.work/moto-range-patch/``) that keeps each object's bytes in memory once read, so a
ranged GET costs the range (as on S3). It changes nothing the client sees.

    python benchmarks/bench_s3_stream.py [--rounds 3] [--emulator-rounds 2] [--size-mib 1024]
    python benchmarks/bench_s3_stream.py --sweep [--chunks 4,8,16] [--depths 1,2] [--sweep-targets sink]

``--sweep`` measures ``copy-devnull`` for each REMOTE_CHUNK_BYTES in ``--chunks`` (MiB) and
``provider`` for each chunk size and ReadAhead depth in ``--depths`` (``0`` = no ReadAhead) to
each of ``--sweep-targets`` (``sink``, ``emulator``), both set in the measuring process through
``SEEKRFLOW_BENCH_REMOTE_CHUNK_MIB`` and ``SEEKRFLOW_BENCH_READ_AHEAD_DEPTH``; results are saved as
``s3_stream_sweep`` (the main run's ``s3_stream`` is left alone).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import API_KEY, ROOT, conn_env, cpu_seconds, proc_status, reset_hwm, save_result, work_dir  # noqa: E402

BUCKET = "bench"
KEY = "big.jsonl"
PURPOSE = "fine-tune"
#: The baselines of the target: the provider's ratio is to the faster of these two.
COPY_KINDS = ("copy-devnull", "copy-devnull-default")
SINK_KINDS = ("copy-devnull", "copy-devnull-default", "copy-devnull-stream", "provider", "provider-local")
EMULATOR_KINDS = ("provider", "provider-local")
CHUNK_ENV = "SEEKRFLOW_BENCH_REMOTE_CHUNK_MIB"
DEPTH_ENV = "SEEKRFLOW_BENCH_READ_AHEAD_DEPTH"
RSS_TARGET_MIB = 32
RATIO_TARGET = 1.25
#: In the measuring process: how the provider opened the object, each time it did.
OPENED_AS: list[str] = []

# Loaded into the moto server process (PYTHONPATH): FakeKey.value reads the whole object from its
# spooled file on every GET, and a ranged GET then slices it. Keeping the bytes once read makes a
# ranged GET cost its range. Every write goes through the property's setter, which drops the copy.
MOTO_RANGE_PATCH = '''\
"""Benchmark-only patch of moto's S3 server (written by benchmarks/bench_s3_stream.py)."""
try:
    import moto.s3.models as _models
except Exception:  # not the moto server, or another moto: leave it alone
    _models = None
if _models is not None and isinstance(getattr(_models.FakeKey, "value", None), property):
    _value = _models.FakeKey.value

    def _get(self):
        kept = self.__dict__.get("_bench_value")
        if kept is None:
            kept = _value.fget(self)
            self.__dict__["_bench_value"] = kept
        return kept

    def _set(self, new):
        self.__dict__.pop("_bench_value", None)
        _value.fset(self, new)

    _models.FakeKey.value = property(_get, _set)
'''


# ------------------------------------------------------------------------------ measuring process


def _apply_overrides() -> dict[str, Any]:
    """Set REMOTE_CHUNK_BYTES and the ReadAhead depth from the environment; return what is in force."""
    from airflow_provider_seekrflow.sources import read_ahead, remote

    chunk_mib = os.environ.get(CHUNK_ENV)
    if chunk_mib:
        remote.REMOTE_CHUNK_BYTES = int(float(chunk_mib) * 1024 * 1024)
    depth_text = os.environ.get(DEPTH_ENV)
    depth: int | str = "default"
    wrap: Any = remote.ReadAhead
    if depth_text is not None and depth_text != "":
        depth = int(depth_text)
        if depth == 0:
            wrap = lambda stream, chunk_bytes: stream  # noqa: E731
        else:

            class _ReadAhead(read_ahead.ReadAhead):
                def __init__(self, stream: Any, chunk_bytes: int, depth: int = depth) -> None:  # type: ignore[assignment]
                    super().__init__(stream, chunk_bytes, depth)

            wrap = _ReadAhead
    if depth == "default":
        import inspect

        depth = inspect.signature(read_ahead.ReadAhead.__init__).parameters["depth"].default

    def recording(stream: Any, chunk_bytes: int) -> Any:
        # how the product opened the object: fsspec's buffered file = ranged GETs, else a stream
        from fsspec.spec import AbstractBufferedFile

        mode = "ranged" if isinstance(stream, AbstractBufferedFile) else "streamed"
        OPENED_AS.append(f"{mode} ({type(stream).__name__})")
        return wrap(stream, chunk_bytes)

    remote.ReadAhead = recording  # type: ignore[misc,assignment]
    return {"chunk_mib": remote.REMOTE_CHUNK_BYTES / 2**20, "depth": depth}


def child(kind: str, uri: str, local: str) -> int:
    """One measurement in this fresh process; prints one JSON line."""
    import logging
    import shutil

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    settings = _apply_overrides()
    from airflow_provider_seekrflow.sources import remote

    chunk = remote.REMOTE_CHUNK_BYTES
    if kind == "copy-devnull-stream":
        from airflow.providers.common.compat.sdk import ObjectStoragePath
        from fsspec.asyn import sync

        path = ObjectStoragePath(uri, conn_id="aws_default")
        size = int(path.stat().st_size)
        fs, key = path.fs, uri.split("://", 1)[1]

        async def stream_copy() -> int:
            src = await fs.open_async(key, "rb")
            moved = 0
            with open(os.devnull, "wb") as dst:
                while piece := await src.read(chunk):
                    dst.write(piece)
                    moved += len(piece)
            await src.close()
            return moved

        def run() -> int:
            return int(sync(fs.loop, stream_copy))

    elif kind in COPY_KINDS:
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        path = ObjectStoragePath(uri, conn_id="aws_default")
        size = int(path.stat().st_size)  # the filesystem, its client and the connection: not timed

        def run() -> int:
            if kind == "copy-devnull":
                src = path.open("rb", block_size=chunk, cache_type="none")
            else:
                src = path.open("rb")
            with src, open(os.devnull, "wb") as dst:
                shutil.copyfileobj(src, dst, chunk)
                return int(src.tell())

    elif kind in ("provider", "provider-local"):
        from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

        hook = SeekrFlowHook()
        _ = hook.config  # the connection lookup is not part of the upload
        if kind == "provider":
            from airflow_provider_seekrflow.sources.resolver import resolve

            sources, single = resolve(uri)  # listing (HEAD): not timed
            assert single and len(sources) == 1
            source = sources[0]
            size = source.size

            def run() -> int:
                # the body raises if the stream gives other than ``size`` bytes
                hook.upload_stream(
                    source.open, source.size, PURPOSE, filename=source.name, chunk_bytes=source.chunk_bytes
                )
                return size

        else:
            size = os.stat(local).st_size

            def run() -> int:
                hook.upload_file(local, PURPOSE, check=False, check_with_service=False)
                return size

    else:
        raise SystemExit(f"unknown kind {kind}")

    hwm_reset = reset_hwm()
    before = proc_status()
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    status = "ok"
    moved = 0
    try:
        moved = run()
        if moved != size:
            status = f"moved {moved} of {size} bytes"
    except Exception as err:  # noqa: BLE001 - reported in the table
        status = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
    wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_before
    after = proc_status()
    print(
        json.dumps(
            {
                "kind": kind,
                "wall_s": wall,
                "cpu_s": cpu,
                "status": status,
                "bytes": size,
                "settings": settings,
                "opened_as": OPENED_AS[0] if OPENED_AS else None,
                "rss_base_kib": before["VmRSS"],
                "hwm_reset": hwm_reset,
                "rss_growth_kib": after["VmHWM"] - (before["VmRSS"] if hwm_reset else before["VmHWM"]),
            }
        )
    )
    return 0


# ------------------------------------------------------------------------------ the run


def _process_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_env(moto_url: str, seekrflow_url: str, aws_home: Path, overrides: dict[str, str]) -> dict[str, str]:
    from tests.emulator.sources.moto_s3 import AMBIENT_AWS_VARIABLES, aws_connection, isolated_aws_environment

    env = {k: v for k, v in os.environ.items() if k not in AMBIENT_AWS_VARIABLES}
    env.pop(CHUNK_ENV, None)
    env.pop(DEPTH_ENV, None)
    env.update(isolated_aws_environment(aws_home))
    env["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection(moto_url)
    env["AIRFLOW_CONN_SEEKRFLOW_DEFAULT"] = conn_env(seekrflow_url)
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.update(overrides)
    return env


def run_child(kind: str, uri: str, local: Path, env: dict[str, str], moto_pid: int) -> dict:
    moto_cpu = _process_cpu(moto_pid)
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", kind, "--uri", uri, "--local", str(local)],
        capture_output=True, text=True, env=env, timeout=900, check=False,
    )  # fmt: skip
    moto_cpu = _process_cpu(moto_pid) - moto_cpu
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"kind": kind, "wall_s": float("nan"), "status": f"crashed: {proc.stderr[-600:]}"}
    result = json.loads(lines[-1])
    # moto is idle but for this process's requests; the listing's HEAD (~ms) is included.
    result["moto_cpu_s"] = moto_cpu
    return result


def summarise(target: str, samples: dict[str, list[dict]], meta: dict[str, dict] | None = None) -> list[dict]:
    rows = []
    for label, got in samples.items():
        walls = [s["wall_s"] for s in got]
        wall = statistics.median(walls)
        size = got[-1].get("bytes") or 0
        rows.append(
            {
                "target": target,
                "kind": got[-1]["kind"],
                **(meta or {}).get(label, {}),
                "settings": got[-1].get("settings"),
                "opened_as": got[-1].get("opened_as"),
                "wall_s": wall,
                "walls": walls,
                "mb_s": size / 1e6 / wall if wall == wall and wall > 0 else float("nan"),
                "cpu_s": statistics.median(s.get("cpu_s", float("nan")) for s in got),
                "moto_cpu_s": statistics.median(s.get("moto_cpu_s", float("nan")) for s in got),
                "rss_growth_mib": max(s.get("rss_growth_kib", 0) for s in got) / 1024,
                "rss_growths_mib": [round(s.get("rss_growth_kib", 0) / 1024, 1) for s in got],
                "status": next((s["status"] for s in got if s["status"] != "ok"), "ok"),
            }
        )
    return rows


def measure(
    target: str,
    cases: dict[str, tuple[str, dict[str, str]]],
    rounds: int,
    uri: str,
    local: Path,
    moto_pid: int,
    after_each: Any = None,
) -> dict[str, list[dict]]:
    """Run each case (label: kind and environment) once per round; return each label's results."""
    labels = tuple(cases)
    samples: dict[str, list[dict]] = {label: [] for label in labels}
    for r in range(rounds):
        # every case in every round, the order rotated each round: a drift of the machine's load
        # (other jobs share the CPUs) spreads over all cases instead of landing on one
        order = labels[r % len(labels) :] + labels[: r % len(labels)]
        for label in order:
            kind, env = cases[label]
            result = run_child(kind, uri, local, env, moto_pid)
            print(
                f"  {target:8} round {r + 1} {label:24} {result['wall_s']:6.2f} s  "
                f"cpu {result.get('cpu_s', float('nan')):5.2f} s  moto cpu {result.get('moto_cpu_s', float('nan')):5.2f} s  "
                f"RSS +{result.get('rss_growth_kib', 0) / 1024:6.1f} MiB  {result['status']}",
                flush=True,
            )
            samples[label].append(result)
            if after_each:
                after_each()
    return samples


def start_moto(work: Path, stock: bool) -> Any:
    from tests.emulator.sources.moto_s3 import MotoS3

    saved = os.environ.get("PYTHONPATH")
    if not stock:
        patch_dir = work / "moto-range-patch"
        patch_dir.mkdir(parents=True, exist_ok=True)
        (patch_dir / "sitecustomize.py").write_text(MOTO_RANGE_PATCH)
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(patch_dir), saved) if p)
    try:
        return MotoS3().start()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def put_object(moto: Any, local: Path) -> None:
    from boto3.s3.transfer import TransferConfig

    moto.create_bucket(BUCKET)
    client = moto.client()
    start = time.perf_counter()
    client.upload_file(
        str(local), BUCKET, KEY,
        Config=TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20, max_concurrency=2),
    )  # fmt: skip
    # the first GET loads the object (the patch keeps it): not part of any measurement
    client.get_object(Bucket=BUCKET, Key=KEY, Range="bytes=0-0")["Body"].read()
    print(f"object s3://{BUCKET}/{KEY} stored in moto in {time.perf_counter() - start:.1f} s", flush=True)


def print_rows(rows: list[dict], extra: tuple[str, ...] = ()) -> None:
    head = f"{'target':9} {'kind':21}" + "".join(f" {e:>6}" for e in extra)
    print(
        f"{head} {'wall s':>7} {'MB/s':>6} {'ratio':>7} {'cpu s':>6} {'moto cpu':>8} {'RSS +MiB':>9}  status"
    )
    for r in rows:
        ratio = f"{r['vs_copy']:.2f}x" if r.get("vs_copy") is not None else ""
        line = f"{r['target']:9} {r['kind']:21}" + "".join(f" {r.get(e, '')!s:>6}" for e in extra)
        print(
            f"{line} {r['wall_s']:7.2f} {r['mb_s']:6.0f} {ratio:>7} "
            f"{r['cpu_s']:6.2f} {r['moto_cpu_s']:8.2f} {r['rss_growth_mib']:9.1f}  {r['status']}"
        )


def main_run(args: argparse.Namespace, moto: Any, local: Path, aws_home: Path, uri: str, work: Path) -> int:
    from bench_upload import delete_uploads, start_sink

    rows: list[dict] = []
    if args.rounds:
        sink, sink_url = start_sink()
        try:
            env = child_env(moto.endpoint_url, sink_url, aws_home, {})
            cases = {kind: (kind, env) for kind in SINK_KINDS}
            rows += summarise("sink", measure("sink", cases, args.rounds, uri, local, moto.pid))
        finally:
            sink.kill()
            sink.wait()
    if args.emulator_rounds:
        from airflow_provider_seekrflow.emulator import SeekrFlowEmulator

        with SeekrFlowEmulator(
            api_key=API_KEY, subprocess=True, data_dir=str(work / "emu-s3-stream"), cleanup=True
        ) as emu:
            assert emu.base_url is not None
            base_url = emu.base_url
            env = child_env(moto.endpoint_url, base_url, aws_home, {})
            samples = measure(
                "emulator", {kind: (kind, env) for kind in EMULATOR_KINDS}, args.emulator_rounds, uri, local,
                moto.pid, after_each=lambda: delete_uploads(base_url),
            )  # fmt: skip
            rows += summarise("emulator", samples)

    copies = [r for r in rows if r["kind"] in COPY_KINDS and r["status"] == "ok"]
    baseline = min(copies, key=lambda r: r["wall_s"]) if copies else None
    for r in rows:
        r["vs_copy"] = r["wall_s"] / baseline["wall_s"] if baseline else None
    print()
    print_rows(rows)
    verdicts: dict[str, bool] = {}
    if baseline:
        print(
            f"\nratio = wall / {baseline['kind']} ({baseline['wall_s']:.2f} s, the faster of the two "
            "copy-to-/dev/null baselines in this run)"
        )
    for r in rows:
        if r["kind"] != "provider":
            continue
        if r["vs_copy"] is not None:
            verdicts[f"provider wall <= {RATIO_TARGET}x copy-to-/dev/null ({r['target']})"] = (
                r["vs_copy"] <= RATIO_TARGET and r["status"] == "ok"
            )
        verdicts[f"provider RSS growth <= {RSS_TARGET_MIB} MiB ({r['target']})"] = (
            r["rss_growth_mib"] <= RSS_TARGET_MIB and r["status"] == "ok"
        )
    provider_sink = next((r for r in rows if r["target"] == "sink" and r["kind"] == "provider"), None)
    if baseline and provider_sink:
        # one round's figures are seconds apart: the paired ratios show how much the load drifted
        paired = [p / c for p, c in zip(provider_sink["walls"], baseline["walls"], strict=True)]
        provider_sink["paired_ratios"] = paired
        print(
            f"per round, provider / {baseline['kind']} (sink): "
            + ", ".join(f"{x:.2f}x" for x in paired)
            + f" (median {statistics.median(paired):.2f}x)"
        )
    # The copy that reads the object as the provider did: the target's "same filesystem client" read
    # the same way. The two baselines above read it with ranged GETs; since the provider streams
    # one GET where the filesystem can, its like-for-like copy is then copy-devnull-stream.
    opened = (provider_sink or {}).get("opened_as") or ""
    like_kind = "copy-devnull-stream" if opened.startswith("streamed") else "copy-devnull"
    like = next((r for r in rows if r["kind"] == like_kind and r["status"] == "ok"), None)
    if like and provider_sink:
        print(
            f"the provider read the object {opened}; the copy that reads it so: {like_kind} ({like['wall_s']:.2f} s)"
        )
        if like is not baseline:
            for r in rows:
                if r["kind"] == "provider":
                    ok = r["wall_s"] / like["wall_s"] <= RATIO_TARGET and r["status"] == "ok"
                    verdicts[
                        f"provider wall <= {RATIO_TARGET}x {like_kind}, read as the provider reads ({r['target']})"
                    ] = ok
    for name, ok in verdicts.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    save_result(
        args.save_as or "s3_stream",
        {
            "object_bytes": local.stat().st_size,
            "uri": uri,
            "moto_range_patch": not args.stock_moto,
            "baseline": baseline["kind"] if baseline else None,
            "like_for_like": like_kind if like else None,
            "provider_opened_as": opened or None,
            "rows": rows,
            "verdicts": verdicts,
        },
    )
    return 0


def sweep_run(args: argparse.Namespace, moto: Any, local: Path, aws_home: Path, uri: str, work: Path) -> int:
    from bench_upload import delete_uploads, start_sink

    chunks = [c for c in args.chunks.split(",") if c]
    depths = [d for d in args.depths.split(",") if d]
    targets = [t for t in args.sweep_targets.split(",") if t]
    rows: list[dict] = []
    sink, sink_url = start_sink()
    try:
        cases: dict[str, tuple[str, dict[str, str]]] = {}
        meta: dict[str, dict] = {}
        for chunk in chunks:
            label = f"copy-devnull {chunk} MiB"
            cases[label] = (
                "copy-devnull",
                child_env(moto.endpoint_url, sink_url, aws_home, {CHUNK_ENV: chunk}),
            )
            meta[label] = {"chunk_mib": chunk, "depth": "-"}
            for depth in depths if "sink" in targets else ():
                label = f"provider {chunk} MiB d{depth}"
                overrides = {CHUNK_ENV: chunk, DEPTH_ENV: depth}
                cases[label] = ("provider", child_env(moto.endpoint_url, sink_url, aws_home, overrides))
                meta[label] = {"chunk_mib": chunk, "depth": depth}
        samples = measure("sink", cases, args.rounds, uri, local, moto.pid)
        rows += summarise("sink", samples, meta)
        for row in rows:
            if row["kind"] == "copy-devnull":
                row["target"] = "-"  # no upload: the baseline of both targets
    finally:
        sink.kill()
        sink.wait()
    if "emulator" in targets:
        from airflow_provider_seekrflow.emulator import SeekrFlowEmulator

        with SeekrFlowEmulator(
            api_key=API_KEY, subprocess=True, data_dir=str(work / "emu-s3-stream"), cleanup=True
        ) as emu:
            assert emu.base_url is not None
            base_url = emu.base_url
            cases, meta = {}, {}
            for chunk in chunks:
                for depth in depths:
                    label = f"provider {chunk} MiB d{depth}"
                    overrides = {CHUNK_ENV: chunk, DEPTH_ENV: depth}
                    cases[label] = ("provider", child_env(moto.endpoint_url, base_url, aws_home, overrides))
                    meta[label] = {"chunk_mib": chunk, "depth": depth}
            samples = measure(
                "emulator", cases, args.emulator_rounds, uri, local, moto.pid,
                after_each=lambda: delete_uploads(base_url),
            )  # fmt: skip
            rows += summarise("emulator", samples, meta)
    for r in rows:
        copy = next(c for c in rows if c["kind"] == "copy-devnull" and c["chunk_mib"] == r["chunk_mib"])
        r["vs_copy"] = r["wall_s"] / copy["wall_s"]
    modes = sorted({r["opened_as"] for r in rows if r["kind"] == "provider" and r.get("opened_as")})
    print("\nratio = wall / copy-devnull at the same chunk size (depth 0 = no ReadAhead); the provider read")
    print(f"the object {', '.join(modes) or '?'}")
    print_rows(rows, extra=("chunk_mib", "depth"))
    save_result(
        args.save_as or "s3_stream_sweep",
        {
            "object_bytes": local.stat().st_size,
            "uri": uri,
            "moto_range_patch": not args.stock_moto,
            "rows": rows,
        },
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="measurements per kind to the sink")
    parser.add_argument("--emulator-rounds", type=int, default=2, help="uploads per kind to the emulator")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--stock-moto", action="store_true", help="do not patch moto's ranged GETs")
    parser.add_argument(
        "--sweep", action="store_true", help="chunk size x read-ahead depth (see --sweep-targets)"
    )
    parser.add_argument("--chunks", default="4,8,16", help="REMOTE_CHUNK_BYTES values for --sweep, MiB")
    parser.add_argument("--depths", default="1,2", help="ReadAhead depths for --sweep (0 = no ReadAhead)")
    parser.add_argument("--sweep-targets", default="sink", help="sink and/or emulator, for --sweep")
    parser.add_argument("--save-as", help="results name (default s3_stream, or s3_stream_sweep with --sweep)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--local", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.uri, args.local)

    sys.path.insert(0, str(ROOT))  # tests.emulator.sources.moto_s3
    from bench_upload import generate_jsonl

    work = work_dir()
    local = work / f"finetune-{args.size_mib}MiB.jsonl"
    generate_jsonl(local, args.size_mib << 20)
    aws_home = work / "aws-home"
    aws_home.mkdir(exist_ok=True)
    uri = f"s3://{BUCKET}/{KEY}"
    print(
        f"object: {uri} ({local.stat().st_size / 2**20:.0f} MiB, from {local}); moto ranged GETs "
        f"{'stock (whole object read per request)' if args.stock_moto else 'patched (cost the range)'}",
        flush=True,
    )
    # read the local copy once so provider-local starts from a warm page cache
    with open(local, "rb", buffering=0) as fh:
        while fh.read(8 << 20):
            pass
    moto = start_moto(work, args.stock_moto)
    try:
        put_object(moto, local)
        if args.sweep:
            return sweep_run(args, moto, local, aws_home, uri, work)
        return main_run(args, moto, local, aws_home, uri, work)
    finally:
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())

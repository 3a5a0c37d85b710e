"""Every render gives the receiver a configuration and credentials its v0.1.0 start accepts.

The v0.1.0 receiver is strict (its ``config/receiver.go`` and ``cmd/receiver/main.go``; see the
docs/verification.md, the Envoy layer): a wrong JSON type or a missing ``cloud_watch_region`` /
``cloud_watch_cluster_name`` fails its plugin start, and so does an access key or secret that is
empty after the env fallback. A failed start of that bootstrap service keeps Envoy, and so every
new gateway pod, from starting. These checks run over both example stacks and every Istio
version of the matrix, so the program cannot render such a configuration unnoticed; the Envoy
layer (``test_envoy.py``) shows what happens when one slips through.

Non-empty key values are guaranteed upstream: the credentials Secret's values are the
``aws.iam.AccessKey`` outputs ``id`` and ``secret``, which IAM always returns non-empty for a
created key. What the render can show (and this checks) is that the Secret carries both env keys
and that every ``istio-proxy`` env var reads an existing key of it, never ``optional``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from acpw.contract import KEY_ENV_NAMES, PROXY_CONTAINER
from tests.conformance.envoy_harness.bootstrap import WASM_SERVICE_TYPE
from tests.conformance.objects import Obj, object_ref
from tests.conformance.renders import case_names, render_case

INT32_MAX = 2**31 - 1

RECEIVER_SCHEMA: dict[str, tuple[type, bool]] = {
    # key: (JSON type as Python type, required)
    "cloud_watch_region": (str, True),
    "cloud_watch_cluster_name": (str, True),
    "http_request_timeout_millisecond": (int, False),
    "metric_namespace": (str, False),
    "metric_name": (str, False),
}
"""The receiver's configuration keys (module contract, v0.1.0). ``aws_access_key_id`` and
``aws_secret_access_key`` exist too but must never be rendered: the keys come from env vars."""


BATCHING_RANGES: dict[str, tuple[int, int]] = {
    "http_request_timeout_millisecond": (100, 60000),
    "flush_seconds": (1, 300),
    "max_series": (1, 10000),
}
"""The batching receiver (receiver/batching.c ``parse_configuration``): the same keys, these two
more, and each number in its range (out of range fails its start)."""


def receiver_config_problems(value: object, module: str = "published") -> list[str]:
    """What the v0.1.0 receiver (or, ``module="batching"``, the project's batching receiver)
    would refuse in a configuration string, or would silently skip (an unknown key is ignored by
    the module: a misspelt optional key would be lost)."""
    schema = dict(RECEIVER_SCHEMA)
    if module == "batching":
        schema |= {"flush_seconds": (int, False), "max_series": (int, False)}
    if not isinstance(value, str):
        return [f"configuration value is {type(value).__name__}, not a JSON string"]
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        return [f"not JSON: {exc}"]
    if not isinstance(parsed, dict):
        return [f"not a JSON object: {type(parsed).__name__}"]
    problems = []
    for key, (kind, required) in schema.items():
        if key not in parsed or parsed[key] is None:
            if required:
                problems.append(f"{key} is missing")
            continue
        item = parsed[key]
        # bool is an int in Python, never in JSON.
        if not isinstance(item, kind) or isinstance(item, bool):
            problems.append(
                f"{key} is a JSON {type(item).__name__}, the module wants {kind.__name__}"
            )
        elif kind is str and required and not item:
            problems.append(f"{key} is empty")
        elif isinstance(item, int) and not 0 < item <= INT32_MAX:
            problems.append(f"{key} {item} is out of range")
        elif module == "batching" and key in BATCHING_RANGES and isinstance(item, int):
            low, high = BATCHING_RANGES[key]
            if not low <= item <= high:
                problems.append(f"{key} {item} is out of range {low} to {high}")
    for key in parsed:
        if key in ("aws_access_key_id", "aws_secret_access_key"):
            problems.append(f"{key} is in the configuration: keys come from env vars only")
        elif key not in schema:
            problems.append(f"unknown key {key!r} (the module would skip it)")
    return problems


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def _wasm_services(obj: Obj) -> Iterator[tuple[str, Obj]]:
    """(where, WasmService typed_config) in an EnvoyFilter patch or a bootstrap ConfigMap."""
    documents: list[tuple[str, Any]] = [("", obj)]
    if obj.get("kind") == "ConfigMap":
        for key, text in (obj.get("data") or {}).items():
            if key.endswith(".json"):
                documents.append((f"data[{key!r}]", json.loads(text)))
    for prefix, document in documents:
        for path, node in _walk(document):
            if isinstance(node, dict) and node.get("@type") == WASM_SERVICE_TYPE:
                yield " ".join(filter(None, (prefix, path))), node


@pytest.mark.parametrize("name", case_names())
def test_every_receiver_configuration_matches_the_module_contract(name: str) -> None:
    case = render_case(name)
    cluster_names = {
        f"outbound|{port['number']}||{host}"
        for se in case.of_kind("ServiceEntry")
        for host in se["spec"].get("hosts", [])
        for port in se["spec"].get("ports", [])
    }
    seen = 0
    for obj in case.objects:
        for where, service in _wasm_services(obj):
            seen += 1
            config = service.get("config", {})
            value = config.get("configuration", {}).get("value")
            at = f"{name}: {object_ref(obj)} {where}.config.configuration.value"
            module = (case.config.get("acpw:receiver") or {}).get("module", "published")
            assert receiver_config_problems(value, module) == [], at
            parsed = json.loads(value)
            # With Envoy signing the bootstrap defines the receiver's own cluster.
            own = {
                c["name"]
                for fragment in _bootstrap_fragments(obj)
                for c in fragment.get("static_resources", {}).get("clusters", [])
            }
            assert parsed["cloud_watch_cluster_name"] in cluster_names | own, (
                f"{at}: cloud_watch_cluster_name names no ServiceEntry cluster {sorted(cluster_names)}"
            )
            if module == "batching":
                # It signs nothing: no key variable enters its VM.
                assert "environment_variables" not in config["vm_config"], at
                continue
            env_keys = config["vm_config"]["environment_variables"]["host_env_keys"]
            assert sorted(env_keys) == sorted(KEY_ENV_NAMES), (
                f"{at}: vm_config.environment_variables.host_env_keys must expose both key env vars"
            )
    assert seen, f"{name}: no receiver WasmService rendered"


def _bootstrap_fragments(obj: Obj) -> list[Obj]:
    """The bootstrap fragments an object carries (ConfigMap file, EnvoyFilter BOOTSTRAP patches)."""
    if obj.get("kind") == "ConfigMap":
        return [
            json.loads(v) for v in (obj.get("data") or {}).values() if v.lstrip().startswith("{")
        ]
    if obj.get("kind") == "EnvoyFilter":
        return [p["patch"]["value"] for p in obj["spec"].get("configPatches", [])]
    return []


def _credentials_secrets(objects: list[Obj]) -> dict[tuple[str, str], Obj]:
    return {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in objects
        if o.get("kind") == "Secret"
        and o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "credentials"
    }


def _key_env_refs(obj: Obj) -> Iterator[tuple[str, Obj]]:
    """(where, env entry) of every env var named like a receiver key env var in obj."""
    for path, node in _walk(obj):
        if isinstance(node, dict) and node.get("name") in KEY_ENV_NAMES and "valueFrom" in node:
            yield path, node


@pytest.mark.parametrize("name", case_names())
def test_credentials_secret_carries_both_env_keys_and_the_proxy_reads_them(name: str) -> None:
    case = render_case(name)
    secrets = _credentials_secrets(case.objects)
    iam = case.config.get("acpw:iam") or {}
    if iam.get("credentials") in ("irsa", "podIdentity"):
        # Keyless: no Secret, and nothing reads one.
        assert secrets == {}, f"{name}: a keyless stack renders credentials Secrets"
        reads = [w for obj in case.objects for w, _ in _key_env_refs(obj)]
        assert reads == [], f"{name}: key env read from a Secret at {reads}"
        return
    assert secrets, f"{name}: no credentials Secret rendered"
    for (namespace, secret_name), secret in secrets.items():
        data = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
        assert sorted(data) == sorted(KEY_ENV_NAMES), (
            f"{name}: Secret/{namespace}/{secret_name} must carry exactly {KEY_ENV_NAMES}"
        )
        for key in KEY_ENV_NAMES:
            # The render shows a secret output as a placeholder; a literal "" would be a bug.
            assert isinstance(data[key], str) and data[key], (
                f"{name}: Secret/{namespace}/{secret_name} {key} is empty"
            )
    refs = 0
    for obj in [*case.objects, *case.exported]:
        if obj.get("kind") == "Secret":
            continue
        for where, env in _key_env_refs(obj):
            refs += 1
            at = f"{name}: {object_ref(obj)} {where}"
            ref = env["valueFrom"].get("secretKeyRef")
            assert ref is not None, f"{at}: {env['name']} must come from the credentials Secret"
            assert ref.get("key") == env["name"], f"{at}: reads key {ref.get('key')!r}"
            assert not ref.get("optional"), (
                f"{at}: optional would start the proxy with an empty key, and the receiver fails"
            )
            names = {n for _, n in secrets}
            assert ref.get("name") in names, f"{at}: Secret {ref.get('name')!r} is not rendered"
            namespace = obj["metadata"].get("namespace")
            if obj.get("kind") not in ("IstioOperator",) and namespace is not None:
                assert (namespace, ref["name"]) in secrets, (
                    f"{at}: no Secret {ref['name']} in namespace {namespace}"
                )
    assert refs >= len(KEY_ENV_NAMES), f"{name}: no {PROXY_CONTAINER} env var reads the key"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"cloud_watch_region": "r"}', "cloud_watch_cluster_name is missing"),
        (
            '{"cloud_watch_cluster_name": "c", "cloud_watch_region": null}',
            "cloud_watch_region is missing",
        ),
        (
            '{"cloud_watch_region": "r", "cloud_watch_cluster_name": "c", '
            '"http_request_timeout_millisecond": "5000"}',
            "http_request_timeout_millisecond is a JSON str, the module wants int",
        ),
        (
            '{"cloud_watch_region": "r", "cloud_watch_cluster_name": "c", '
            '"http_request_timeout_millisecond": true}',
            "http_request_timeout_millisecond is a JSON bool, the module wants int",
        ),
        (
            '{"cloud_watch_region": "r", "cloud_watch_cluster_name": "c", "metricName": "x"}',
            "unknown key 'metricName' (the module would skip it)",
        ),
        (
            '{"cloud_watch_region": "r", "cloud_watch_cluster_name": "c", "aws_access_key_id": "A"}',
            "aws_access_key_id is in the configuration: keys come from env vars only",
        ),
        ('["cloud_watch_region"]', "not a JSON object: list"),
    ],
)
def test_the_schema_catches_what_the_module_refuses(value: str, problem: str) -> None:
    assert problem in receiver_config_problems(value)

"""Layer 2: core objects against the Kubernetes schemas of each Istio release's support window,
and the gateway Deployment as it ends up after the program's changes.

* Secret / ConfigMap / Deployment patch bodies: kubernetes-validate's strict schemas (a patch
  body as a partial object: unknown fields and types count, missing required fields do not).
* ``installer: istioOperator``: the rendered ``k8s.overlays`` applied with Istio's overlay path
  semantics to the hand-written gateway Deployment of that release, then validated in full.
* ``installer: deploymentPatch``: the patch body merged (server-side apply) into the Helm
  ``gateway`` chart's Deployment, then validated in full.
In both cases the init container, the emptyDir, the read-only mount and the env vars must land in
the pod where ``istio-proxy`` sees them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest

from acpw.istio_versions import GATEWAY_API_OVERLAY_KEYS, GATEWAY_API_POD_LABEL
from acpw.receiver import PLACEHOLDER_KEYS
from tests.conformance import k8s_schema, overlay
from tests.conformance.fixtures import (
    chart_gateway_deployment,
    gateway_api_gateways,
    gateway_api_overlay,
    gateway_names,
    operator_gateway,
    operator_gateway_deployment,
    patched_chart_gateway,
    patched_chart_gateways,
)
from tests.conformance.objects import object_ref, parse_istio_version
from tests.conformance.renders import Case, case_names, render_case

WASM_DIR = "/aws-cloudwatch-proxy-wasm"
BOOTSTRAP_DIR = "/etc/istio/custom-bootstrap"
BOOTSTRAP_KEY = "custom_bootstrap.json"
KEY_ENVS = ("ACPW_AWS_ACCESS_KEY_ID", "ACPW_AWS_SECRET_ACCESS_KEY")


def _fmt(violations: list[Any]) -> str:
    return "\n".join(str(v) for v in violations)


# -- Kubernetes versions ------------------------------------------------------------------------


def test_kubernetes_validate_ships_1_25_to_1_37() -> None:
    shipped = k8s_schema.shipped_versions()
    assert shipped[0] == (1, 25) and shipped[-1] >= (1, 37)


@pytest.mark.parametrize(
    ("istio", "k8s"),
    [
        ("1.13", ["1.25"]),
        ("1.14", ["1.25"]),
        ("1.19", ["1.25", "1.28"]),
        ("1.20", ["1.25", "1.29"]),
        ("1.21", ["1.26", "1.29"]),
        ("1.23", ["1.27", "1.30"]),
        ("1.24", ["1.28", "1.31"]),
        ("1.30", ["1.32", "1.37"]),
        ("1.31", ["1.32", "1.37"]),
    ],
)
def test_kubernetes_versions_for_istio(istio: str, k8s: list[str]) -> None:
    assert k8s_schema.k8s_versions_for(istio) == k8s


# -- the schema check itself --------------------------------------------------------------------


def _secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "acpw-aws-credentials", "namespace": "istio-system"},
        "type": "Opaque",
        "stringData": {k: "[secret]" for k in KEY_ENVS},
    }


def test_secret_passes_and_unknown_fields_fail() -> None:
    assert k8s_schema.validate(_secret(), "1.25") == []
    bad = _secret()
    bad["stringdata"] = {}
    bad["metadata"]["name"] = "Bad"
    errors = [str(v) for v in k8s_schema.validate(bad, "1.37")]
    assert any("Secret/istio-system/Bad: <root>: Additional properties" in e for e in errors)
    assert any("metadata.name: 'Bad' is not a DNS-1123 subdomain" in e for e in errors)


def test_deployment_types_paths_and_partial_mode() -> None:
    dep = chart_gateway_deployment("1.30", "gw", "ns")
    assert k8s_schema.validate(dep, "1.32") == []
    broken = copy.deepcopy(dep)
    broken["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "X", "value": 1}]
    errors = k8s_schema.validate(broken, "1.32")
    assert [e.path for e in errors] == ["spec.template.spec.containers[0].env[0].value"]
    assert errors[0].obj == "Deployment/ns/gw"
    partial = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "gw"}}
    partial["spec"] = {"template": {"spec": {"containers": [{"name": "istio-proxy"}]}}}
    assert k8s_schema.validate(partial, "1.32", partial=True) == []
    assert any(e.path == "spec" for e in k8s_schema.validate(partial, "1.32"))  # selector


def test_dangling_mounts_and_duplicates_are_caught() -> None:
    dep = chart_gateway_deployment("1.30", "gw", "ns")
    proxy = dep["spec"]["template"]["spec"]["containers"][0]
    proxy["volumeMounts"] = [{"name": "nope", "mountPath": "/x"}]
    proxy["env"] = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    paths = {e.path for e in k8s_schema.validate(dep, "1.30")}
    assert "spec.template.spec.containers[0].volumeMounts[0].name" in paths
    assert "spec.template.spec.containers[0].env[1].name" in paths


@pytest.mark.parametrize("istio", ["1.13", "1.14", "1.20", "1.23"])
def test_operator_fixture_is_a_valid_deployment(istio: str) -> None:
    dep = operator_gateway_deployment(istio, gateway_env={"A": "b"}, proxy_metadata={"C": True})
    for version in k8s_schema.k8s_versions_for(istio):
        assert k8s_schema.validate(dep, version) == []
    env = {
        e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["A"] == "b" and env["C"] == "true"


@pytest.mark.parametrize("istio", ["1.20", "1.24", "1.30"])
def test_chart_fixture_is_a_valid_deployment(istio: str) -> None:
    dep = chart_gateway_deployment(istio, "public-gateway", "gateway-public")
    for version in k8s_schema.k8s_versions_for(istio):
        assert k8s_schema.validate(dep, version) == []
    assert dep["spec"]["selector"]["matchLabels"] == {
        "app": "public-gateway",
        "istio": "public-gateway",
    }


# -- Istio overlay path semantics ---------------------------------------------------------------


def _doc() -> dict[str, Any]:
    return {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "istio-proxy",
                            "env": [{"name": "A", "value": "1"}],
                            "args": ["x"],
                        },
                        {"name": "other"},
                    ],
                    "volumes": [{"name": "v0", "emptyDir": {}}],
                }
            }
        }
    }


def test_path_parsing() -> None:
    assert overlay.path_from_string("a.b.[name:x].c.[1000]") == [
        "a",
        "b",
        "[name:x]",
        "c",
        "[1000]",
    ]
    assert overlay.path_from_string("a.b[name:x].c") == ["a", "b", "[name:x]", "c"]
    assert overlay.path_from_string(r"metadata.annotations.a\.b/c") == [
        "metadata",
        "annotations",
        "a.b/c",
    ]


def test_overlay_append_select_replace_delete() -> None:
    proxy = "spec.template.spec.containers.[name:istio-proxy]"
    out = overlay.apply_overlay_patches(
        _doc(),
        [
            {"path": "spec.template.spec.volumes.[1000]", "value": {"name": "v1", "emptyDir": {}}},
            {"path": f"{proxy}.env.[1000]", "value": {"name": "B", "value": "2"}},
            {"path": f"{proxy}.volumeMounts.[1000]", "value": {"name": "v1", "mountPath": "/m"}},
            {"path": f"{proxy}.env.[name:A].value", "value": "changed"},
            {"path": "spec.template.spec.containers.[1].image", "value": "img"},
            {"path": "spec.template.spec.containers.[name:other]"},
            {"path": "spec.strategy.rollingUpdate.maxUnavailable", "value": 0},
            {"path": f"{proxy}.args.[x]", "value": "y"},
        ],
    )
    pod = out["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["v0", "v1"]
    assert [c["name"] for c in pod["containers"]] == ["istio-proxy"]
    assert pod["containers"][0]["env"] == [
        {"name": "A", "value": "changed"},
        {"name": "B", "value": "2"},
    ]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "v1", "mountPath": "/m"}]
    assert pod["containers"][0]["args"] == ["y"]
    assert out["spec"]["strategy"] == {"rollingUpdate": {"maxUnavailable": 0}}


def test_overlay_kv_selection_replaces_the_whole_entry() -> None:
    out = overlay.apply_overlay_patches(
        _doc(), [{"path": "spec.template.spec.containers.[name:other]", "value": {"name": "n"}}]
    )
    assert out["spec"]["template"]["spec"]["containers"][1] == {"name": "n"}


def test_overlay_list_onto_an_existing_list_nests_it() -> None:
    """Istio appends the value to an existing list: a list value becomes one (invalid) entry."""
    doc = _doc()
    doc["spec"]["template"]["spec"]["initContainers"] = [{"name": "a"}]
    out = overlay.apply_overlay_patches(
        doc, [{"path": "spec.template.spec.initContainers", "value": [{"name": "b"}]}]
    )
    assert out["spec"]["template"]["spec"]["initContainers"] == [{"name": "a"}, [{"name": "b"}]]
    out = overlay.apply_overlay_patches(
        _doc(), [{"path": "spec.template.spec.initContainers", "value": [{"name": "b"}]}]
    )
    assert out["spec"]["template"]["spec"]["initContainers"] == [{"name": "b"}]


def test_overlay_errors() -> None:
    with pytest.raises(overlay.OverlayError, match="not found"):
        overlay.apply_overlay_patches(
            _doc(), [{"path": "spec.template.spec.containers.[name:nope].env", "value": []}]
        )
    with pytest.raises(overlay.OverlayError, match="leaf type"):
        overlay.apply_overlay_patches(
            _doc(), [{"path": "spec.template.spec.containers.[0].name.x", "value": 1}]
        )


def test_ssa_merge_by_keys() -> None:
    base = chart_gateway_deployment("1.30", "gw", "ns")
    base["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "istio-proxy",
                            "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}],
                            "volumeMounts": [{"name": "v", "mountPath": "/m"}],
                        }
                    ]
                }
            }
        }
    }
    merged = overlay.ssa_merge(base, patch)
    proxy = merged["spec"]["template"]["spec"]["containers"][0]
    assert proxy["image"] == "auto"
    assert proxy["env"] == [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]
    assert proxy["ports"] == base["spec"]["template"]["spec"]["containers"][0]["ports"]


# -- what the gateway must end up with ----------------------------------------------------------


def _by(items: list[Any] | None, key: str) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for item in items or []:
        assert isinstance(item, Mapping), f"list entry is not an object: {item!r}"
        out[str(item.get(key))] = item
    return out


def _find(case: Case, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
    for obj in case.objects:
        meta = obj.get("metadata") or {}
        if (
            obj.get("kind") == kind
            and meta.get("namespace") == namespace
            and meta.get("name") == name
        ):
            return obj
    return None


def assert_receiver_wiring(dep: Mapping[str, Any], case: Case) -> None:
    """The init container, emptyDir, read-only mount and env vars where istio-proxy sees them."""
    ref = object_ref(dep)
    ns = dep["metadata"]["namespace"]
    minor = parse_istio_version(case.istio_version).minor
    pod = dep["spec"]["template"]["spec"]
    proxies = [c for c in pod["containers"] if c.get("name") == "istio-proxy"]
    assert len(proxies) == 1, f"{ref}: expected one istio-proxy container"
    proxy = proxies[0]
    volumes = _by(pod.get("volumes"), "name")

    inits = [
        c
        for c in pod.get("initContainers") or []
        if "receiver.wasm" in " ".join(c.get("command") or [])
    ]
    proxy_mounts = _by(proxy.get("volumeMounts"), "mountPath")
    module_volume = volumes.get(proxy_mounts.get(WASM_DIR, {}).get("name", ""), {})
    if "configMap" in module_volume:
        # receiver.module: batching: the module's ConfigMap is the volume, nothing is copied.
        assert inits == [], f"{ref}: an init container copies receiver.wasm over the ConfigMap"
        name = str(module_volume["configMap"].get("name"))
        module = _find(case, "ConfigMap", ns, name)
        assert module is not None, f"{ref}: the module ConfigMap {name} is not in {ns}"
        assert "receiver.wasm" in (module.get("binaryData") or {}), (
            f"ConfigMap/{ns}/{name}: binaryData has no receiver.wasm"
        )
        wasm_volume = proxy_mounts[WASM_DIR]["name"]
    else:
        assert len(inits) == 1, (
            f"{ref}: spec.template.spec.initContainers: no init container copies receiver.wasm"
        )
        init_mounts = _by(inits[0].get("volumeMounts"), "mountPath")
        assert WASM_DIR in init_mounts, f"{ref}: init container does not mount {WASM_DIR}"
        wasm_volume = init_mounts[WASM_DIR]["name"]
        assert "emptyDir" in volumes.get(wasm_volume, {}), (
            f"{ref}: volume {wasm_volume} is not an emptyDir"
        )
        assert inits[0]["command"][-1].rstrip("/") == WASM_DIR, (
            f"{ref}: init container copies elsewhere"
        )

    assert WASM_DIR in proxy_mounts, f"{ref}: istio-proxy does not mount {WASM_DIR}"
    assert proxy_mounts[WASM_DIR]["name"] == wasm_volume, (
        f"{ref}: istio-proxy mounts another volume"
    )
    assert proxy_mounts[WASM_DIR].get("readOnly") is True, f"{ref}: {WASM_DIR} not read-only"

    env_list = [e for e in proxy.get("env") or []]
    names = [e["name"] for e in env_list]
    env = _by(env_list, "name")
    for key_env in KEY_ENVS:
        assert names.count(key_env) == 1, (
            f"{ref}: istio-proxy env {key_env} appears {names.count(key_env)}x"
        )
        if env[key_env].get("value") == PLACEHOLDER_KEYS[key_env]:
            continue  # Envoy signs: the receiver gets its fixed placeholders (acpw/receiver.py)
        ref_ = env[key_env].get("valueFrom", {}).get("secretKeyRef") or {}
        secret = _find(case, "Secret", ns, str(ref_.get("name")))
        assert secret is not None, (
            f"{ref}: env {key_env} refers to Secret {ref_.get('name')} not in {ns}"
        )
        keys = {**(secret.get("stringData") or {}), **(secret.get("data") or {})}
        assert ref_.get("key") in keys, (
            f"{ref}: Secret {ref_.get('name')} has no key {ref_.get('key')}"
        )

    if minor <= 20:
        assert names.count("BOOTSTRAP_XDS_AGENT") == 1, (
            f"{ref}: BOOTSTRAP_XDS_AGENT missing/duplicated"
        )
        assert env["BOOTSTRAP_XDS_AGENT"].get("value") == "true", (
            f"{ref}: BOOTSTRAP_XDS_AGENT != 'true'"
        )
        assert "ISTIO_BOOTSTRAP_OVERRIDE" not in env
    else:
        assert "BOOTSTRAP_XDS_AGENT" not in env, f"{ref}: BOOTSTRAP_XDS_AGENT is useless from 1.21"
        assert names.count("ISTIO_BOOTSTRAP_OVERRIDE") == 1, (
            f"{ref}: ISTIO_BOOTSTRAP_OVERRIDE missing"
        )
        path = env["ISTIO_BOOTSTRAP_OVERRIDE"].get("value")
        assert path == f"{BOOTSTRAP_DIR}/{BOOTSTRAP_KEY}", f"{ref}: ISTIO_BOOTSTRAP_OVERRIDE={path}"
        assert BOOTSTRAP_DIR in proxy_mounts, f"{ref}: istio-proxy does not mount {BOOTSTRAP_DIR}"
        volume = volumes.get(proxy_mounts[BOOTSTRAP_DIR]["name"], {})
        cm_name = (volume.get("configMap") or {}).get("name")
        cm = _find(case, "ConfigMap", ns, str(cm_name))
        assert cm is not None, f"{ref}: bootstrap volume refers to ConfigMap {cm_name} not in {ns}"
        assert BOOTSTRAP_KEY in (cm.get("data") or {}), (
            f"{ref}: ConfigMap {cm_name} lacks {BOOTSTRAP_KEY}"
        )

    rolling = (dep["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    assert rolling.get("maxUnavailable") == 0, (
        f"{ref}: spec.strategy.rollingUpdate.maxUnavailable != 0"
    )
    annotations = dep["spec"]["template"].get("metadata", {}).get("annotations") or {}
    assert any(k.startswith("aws-cloudwatch-proxy-wasm/") for k in annotations), (
        f"{ref}: no rollout hash"
    )


# -- the renders --------------------------------------------------------------------------------

RENDERS = case_names()


@pytest.mark.parametrize("name", RENDERS)
def test_render_core_objects_match_the_kubernetes_schemas(name: str) -> None:
    case = render_case(name)
    violations = k8s_schema.validate_objects(case.objects, case.istio_version)
    assert not violations, f"{name} (Istio {case.istio_version}):\n{_fmt(violations)}"
    kinds = {o["kind"] for o in case.objects}
    assert "Secret" in kinds
    assert ("ConfigMap" in kinds) == parse_istio_version(case.istio_version).at_least(21)


@pytest.mark.parametrize("name", RENDERS)
def test_render_istio_operator_gateways_after_overlays(name: str) -> None:
    case = render_case(name)
    iops = case.istio_operators()
    expected = [g["name"] for g in case.gateways() if g["installer"] == "istioOperator"]
    assert sorted(n for iop in iops for n in gateway_names(iop)) == sorted(expected)
    for iop in iops:
        for gateway in gateway_names(iop):
            dep, notes = operator_gateway(iop, gateway, case.istio_version)
            assert not notes, notes
            for version in k8s_schema.k8s_versions_for(case.istio_version):
                violations = k8s_schema.validate(dep, version)
                assert not violations, f"{name}: {gateway} after overlays:\n{_fmt(violations)}"
            assert_receiver_wiring(dep, case)


@pytest.mark.parametrize("name", RENDERS)
def test_render_deployment_patches_merged_into_the_gateway_chart(name: str) -> None:
    case = render_case(name)
    # Each patched gateway has one pod-changes patch (a template) and one strategy patch.
    patches = case.of_kind("Deployment")
    expected = sorted(g["name"] for g in case.gateways() if g["installer"] == "deploymentPatch")
    # A gatewayApi gateway has a strategy patch too, of istiod's <gateway>-istio.
    gateway_api = sorted(
        f"{g['name']}-istio" for g in case.gateways() if g["installer"] == "gatewayApi"
    )
    for part, names in (("template", expected), ("strategy", sorted(expected + gateway_api))):
        with_part = [p["metadata"]["name"] for p in patches if part in p.get("spec", {})]
        assert sorted(with_part) == names, part
    for (namespace, gateway), merged in patched_chart_gateways(patches, case.istio_version).items():
        for version in k8s_schema.k8s_versions_for(case.istio_version):
            violations = k8s_schema.validate(merged, version)
            assert not violations, f"{name}: {namespace}/{gateway} merged:\n{_fmt(violations)}"
        assert merged["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert_receiver_wiring(merged, case)


@pytest.mark.parametrize("name", RENDERS)
def test_render_gateway_api_overlays_merged_into_istios_deployment(name: str) -> None:
    """installer gatewayApi: the overlay ConfigMap the Gateway's parametersRef names, merged
    into istiod's generated Deployment of that release (pinned golden) as istiod merges it, is a
    valid Deployment whose istio-proxy gets the receiver."""
    case = render_case(name)
    expected = sorted(
        (g["namespace"], g["name"]) for g in case.gateways() if g["installer"] == "gatewayApi"
    )
    merged = gateway_api_gateways(case.objects, case.gateways(), case.istio_version)
    assert sorted(merged) == expected
    if name.startswith("gwapi-") or name == "prod":
        assert expected, f"{name} renders a gatewayApi gateway"
    for (namespace, gateway), dep in merged.items():
        patch, configmap = gateway_api_overlay(case.objects, gateway, namespace)
        # Only keys istiod knows (any other fails its whole render of the Gateway).
        assert set(configmap["data"]) <= set(GATEWAY_API_OVERLAY_KEYS)
        ref = patch["spec"]["infrastructure"]["parametersRef"]
        assert (ref["group"], ref["kind"]) == ("", "ConfigMap")
        for version in k8s_schema.k8s_versions_for(case.istio_version):
            violations = k8s_schema.validate(dep, version)
            assert not violations, f"{name}: {namespace}/{gateway} merged:\n{_fmt(violations)}"
        assert dep["metadata"]["name"] == f"{gateway}-istio"
        assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert_receiver_wiring(dep, case)


def test_gateway_api_wiring_check_catches_a_missing_mount() -> None:
    case = render_case("gwapi-1.30")
    objects = copy.deepcopy(case.objects)
    _, configmap = gateway_api_overlay(objects, "partner-gateway", "partner")
    overlay_doc = json.loads(configmap["data"]["deployment"])
    proxy = overlay_doc["spec"]["template"]["spec"]["containers"][0]
    proxy["volumeMounts"] = [m for m in proxy["volumeMounts"] if "bootstrap" not in m["name"]]
    configmap["data"]["deployment"] = json.dumps(overlay_doc)
    [dep] = gateway_api_gateways(objects, case.gateways(), case.istio_version).values()
    with pytest.raises(AssertionError, match="does not mount /etc/istio/custom-bootstrap"):
        assert_receiver_wiring(dep, case)


def test_overlay_keeps_init_containers_the_gateway_already_has() -> None:
    """The init container is appended (`initContainers.[1000]`), so existing ones survive."""
    case = render_case("dev")
    iop = case.istio_operators()[0]
    gateway = gateway_names(iop)[0]
    base = operator_gateway_deployment(case.istio_version, name=gateway)
    base["spec"]["template"]["spec"]["initContainers"] = [{"name": "existing", "image": "busybox"}]
    dep = overlay.apply_overlay_patches(base, list(overlay.overlays_for(iop, gateway)))
    assert k8s_schema.validate(dep, "1.25") == []
    names = [c["name"] for c in dep["spec"]["template"]["spec"]["initContainers"]]
    assert names == ["existing", "acpw-receiver-wasm"]


def test_wiring_check_catches_a_missing_env_var() -> None:
    case = render_case("prod")
    [patch] = [copy.deepcopy(p) for p in case.of_kind("Deployment") if "template" in p["spec"]][:1]
    proxy = patch["spec"]["template"]["spec"]["containers"][0]
    proxy["env"] = [e for e in proxy["env"] if e["name"] != "ISTIO_BOOTSTRAP_OVERRIDE"]
    merged = patched_chart_gateway(patch, case.istio_version)
    with pytest.raises(AssertionError, match="ISTIO_BOOTSTRAP_OVERRIDE missing"):
        assert_receiver_wiring(merged, case)


def _gateway_pods(case: Case) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, gateway name) -> the gateway Deployment as it ends up in the cluster."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for iop in case.istio_operators():
        for gateway in gateway_names(iop):
            dep, _ = operator_gateway(iop, gateway, case.istio_version)
            out[(dep["metadata"]["namespace"], gateway)] = dep
    out.update(patched_chart_gateways(case.of_kind("Deployment"), case.istio_version))
    out.update(gateway_api_gateways(case.objects, case.gateways(), case.istio_version))
    return out


@pytest.mark.parametrize("name", RENDERS)
def test_render_selectors_select_the_gateway_pods(name: str) -> None:
    """WasmPlugin / EnvoyFilter selectors must match the labels of the gateway's pod template."""
    case = render_case(name)
    pods = _gateway_pods(case)
    for gw in case.gateways():
        dep = pods[(gw["namespace"], gw["name"])]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        for obj in case.objects:
            meta = obj["metadata"]
            if meta.get("namespace") != gw["namespace"] or not meta["name"].endswith(gw["name"]):
                continue
            if obj["kind"] == "WasmPlugin" and "targetRefs" in obj["spec"]:
                # istiod resolves a Gateway targetRef to the pods labelled with its name.
                [target] = obj["spec"]["targetRefs"]
                assert target["name"] == gw["name"], object_ref(obj)
                selector = {GATEWAY_API_POD_LABEL: target["name"]}
            elif obj["kind"] == "WasmPlugin":
                selector = obj["spec"]["selector"]["matchLabels"]
            elif obj["kind"] == "EnvoyFilter":
                selector = obj["spec"]["workloadSelector"]["labels"]
            else:
                continue
            missing = {k: v for k, v in selector.items() if labels.get(k) != v}
            assert not missing, (
                f"{object_ref(obj)}: selector {missing} does not match {object_ref(dep)}"
            )


@pytest.mark.parametrize("name", RENDERS)
def test_render_pull_secrets_exist_where_used(name: str) -> None:
    """A WasmPlugin pull secret must be a dockerconfigjson Secret in the plugin's namespace."""
    case = render_case(name)
    for plugin in case.of_kind("WasmPlugin"):
        secret_name = plugin["spec"].get("imagePullSecret")
        if not secret_name:
            continue
        secret = _find(case, "Secret", plugin["metadata"]["namespace"], secret_name)
        assert secret is not None, (
            f"{object_ref(plugin)}: spec.imagePullSecret {secret_name} missing"
        )
        assert secret.get("type") == "kubernetes.io/dockerconfigjson", object_ref(secret)
    for dep in _gateway_pods(case).values():
        ns = dep["metadata"]["namespace"]
        for ref in dep["spec"]["template"]["spec"].get("imagePullSecrets") or []:
            secret = _find(case, "Secret", ns, ref["name"])
            assert secret is not None, f"{object_ref(dep)}: imagePullSecrets {ref['name']} missing"
            assert secret.get("type") == "kubernetes.io/dockerconfigjson", object_ref(secret)

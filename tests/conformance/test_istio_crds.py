"""Layer 1: every Istio object of every render against the CRD schemas of its Istio release.

Unit tests first prove the validator catches what the API server would reject or prune; then
each example stack and each matrix version is rendered and checked.
"""

from __future__ import annotations

import copy
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conformance import cel, iop_schema, istio_schema
from tests.conformance.istio_schema import IstioSchemaError, validate_objects
from tests.conformance.objects import object_ref, parse_istio_version
from tests.conformance.renders import case_names, render_case


def _wasm_plugin(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": "acpw-sender-gw", "namespace": "istio-system"},
        "spec": {
            "selector": {"matchLabels": {"istio": "ingressgateway"}},
            "url": "oci://ghcr.io/hatappi/aws-cloudwatch-proxy-wasm/oci-sender:v0.1.0",
            "imagePullPolicy": "IfNotPresent",
            "pluginConfig": {"receiver_vm_id": "r", "anything": {"goes": [1, 2]}},
            **spec,
        },
    }


def _service_entry(api_version: str = "networking.istio.io/v1beta1") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "ServiceEntry",
        "metadata": {"name": "acpw-monitoring", "namespace": "istio-system"},
        "spec": {
            "hosts": ["monitoring.ap-northeast-1.amazonaws.com"],
            "location": "MESH_EXTERNAL",
            "ports": [{"number": 443, "name": "https", "protocol": "TLS"}],
            "resolution": "DNS",
            "exportTo": ["."],
        },
    }


def _envoy_filter() -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": "acpw-receiver-gw", "namespace": "istio-system"},
        "spec": {
            "workloadSelector": {"labels": {"istio": "ingressgateway"}},
            "configPatches": [
                {
                    "applyTo": "BOOTSTRAP",
                    "patch": {"operation": "MERGE", "value": {"bootstrap_extensions": []}},
                }
            ],
        },
    }


def _errors(obj: dict[str, Any], version: str) -> list[str]:
    return [str(v) for v in validate_objects([obj], version).violations]


# -- bundle selection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "bundle"),
    [
        ("1.13", "1.13.9"),
        ("1.13.9", "1.13.9"),
        ("1.14.3", "1.13.9"),
        ("1.14", "1.14.6"),
        ("1.19", "1.14.6"),
        ("1.20", "1.20.8"),
        ("1.21", "1.20.8"),
        ("1.24", "1.23.6"),
        ("1.30", "1.30.3"),
        ("1.30.3", "1.30.3"),
        ("1.31", "1.30.3"),
    ],
)
def test_bundle_selection(version: str, bundle: str) -> None:
    assert istio_schema.bundle_for(version).name == bundle


@pytest.mark.parametrize("version", ["1.12", "1.12.9", "1.13.2", "1.9"])
def test_version_older_than_every_bundle_is_an_error(version: str) -> None:
    with pytest.raises(IstioSchemaError, match="no Istio CRD bundle covers"):
        istio_schema.bundle_for(version)


def test_bad_version_text() -> None:
    with pytest.raises(IstioSchemaError, match="not an Istio version"):
        istio_schema.bundle_for("latest")


def test_bundle_dir_comes_from_the_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(istio_schema.crds_dir() / "crd-all-1.20.8.yaml", tmp_path)
    monkeypatch.setenv(istio_schema.ENV_VAR, str(tmp_path))
    assert istio_schema.crds_dir() == tmp_path
    assert istio_schema.bundle_for("1.30").name == "1.20.8"
    with pytest.raises(IstioSchemaError):
        istio_schema.bundle_for("1.13")
    monkeypatch.setenv(istio_schema.ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(IstioSchemaError, match="make fetch-istio-crds"):
        istio_schema.bundle_for("1.13")


def test_default_bundle_dir_is_shared_istio_crds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(istio_schema.ENV_VAR, raising=False)
    assert istio_schema.crds_dir() == (istio_schema.REPO_ROOT / "../shared/istio-crds").resolve()


# -- what the validator catches -----------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.13", "1.14", "1.20", "1.23", "1.30"])
def test_valid_objects_pass(version: str) -> None:
    objs = [_wasm_plugin(), _service_entry(), _envoy_filter()]
    report = validate_objects(objs, version)
    assert report.ok, str(report)
    assert len(report.checked) == 3


def test_unknown_field_fail_strategy_on_1_13() -> None:
    errors = _errors(_wasm_plugin(failStrategy="FAIL_OPEN"), "1.13")
    assert errors == [
        "WasmPlugin/istio-system/acpw-sender-gw: spec.failStrategy: unknown field "
        "(not in the CRD schema; the API server would prune it)"
    ]
    assert _errors(_wasm_plugin(failStrategy="FAIL_OPEN"), "1.20") == []


def test_unknown_nested_field_and_preserved_fields() -> None:
    obj = _wasm_plugin()
    obj["spec"]["selector"]["matchLabel"] = {"a": "b"}
    assert _errors(obj, "1.30") == [
        "WasmPlugin/istio-system/acpw-sender-gw: spec.selector.matchLabel: unknown field "
        "(not in the CRD schema; the API server would prune it)"
    ]
    ef = _envoy_filter()
    ef["spec"]["configPatches"][0]["patch"]["value"] = {"any": {"thing": ["goes"]}}
    assert _errors(ef, "1.13") == []  # patch.value preserves unknown fields


def test_unknown_top_level_field() -> None:
    obj = _wasm_plugin()
    obj["sepc"] = {}
    assert any(": sepc: unknown field" in e for e in _errors(obj, "1.13"))


def test_bad_enum() -> None:
    errors = _errors(_wasm_plugin(phase="LAST"), "1.13")
    assert len(errors) == 1
    assert errors[0].startswith("WasmPlugin/istio-system/acpw-sender-gw: spec.phase: 'LAST' is not")
    assert _errors(_wasm_plugin(failStrategy="FAIL_RELOAD"), "1.23") != []  # 1.27+ only
    assert _errors(_wasm_plugin(failStrategy="FAIL_RELOAD"), "1.30") == []


def test_sha256_pattern_from_1_20() -> None:
    short = _wasm_plugin(sha256="abc123")
    assert _errors(short, "1.13") == []  # no pattern before 1.20
    for version in ("1.20", "1.23", "1.30"):
        errors = _errors(short, version)
        assert len(errors) == 1, errors
        assert "spec.sha256: 'abc123' does not match pattern" in errors[0]
    assert _errors(_wasm_plugin(sha256="a" * 64), "1.30") == []
    assert _errors(_wasm_plugin(sha256="sha256:" + "a" * 64), "1.30") != []


def test_missing_required_field() -> None:
    obj = _wasm_plugin()
    del obj["spec"]["url"]
    assert _errors(obj, "1.13") == []  # 1.13 requires nothing
    errors = _errors(obj, "1.30")
    assert "WasmPlugin/istio-system/acpw-sender-gw: spec.url: required field is missing" in errors
    se = _service_entry("networking.istio.io/v1")
    del se["spec"]["hosts"]
    assert any("spec.hosts: required field is missing" in e for e in _errors(se, "1.30"))


def test_unserved_api_version() -> None:
    errors = _errors(_service_entry("networking.istio.io/v1"), "1.13")
    assert errors == [
        "ServiceEntry/istio-system/acpw-monitoring: apiVersion: networking.istio.io/v1 is not "
        "served by Istio 1.13.9 (served: networking.istio.io/v1alpha3, networking.istio.io/v1beta1)"
    ]
    assert _errors(_service_entry("networking.istio.io/v1"), "1.23") == []
    wasm = _wasm_plugin()
    wasm["apiVersion"] = "extensions.istio.io/v1"
    assert "is not served" in _errors(wasm, "1.30")[0]


def test_unknown_kind_in_an_istio_group() -> None:
    obj = _wasm_plugin()
    obj["kind"] = "TrafficExtension"
    assert "has no CRD for kind 'TrafficExtension'" in _errors(obj, "1.13")[0]


def test_types_and_int32() -> None:
    errors = _errors(_wasm_plugin(priority="high"), "1.13")
    assert errors == [
        "WasmPlugin/istio-system/acpw-sender-gw: spec.priority: must be of type integer, got string"
    ]
    se = _service_entry()
    se["spec"]["ports"][0]["number"] = 2**40
    assert any("spec.ports[0].number" in e for e in _errors(se, "1.30"))


def test_one_of_is_enforced() -> None:
    ef = _envoy_filter()
    ef["spec"]["configPatches"][0]["match"] = {"listener": {}, "cluster": {}}
    errors = _errors(ef, "1.13")
    assert len(errors) == 1
    assert (
        "spec.configPatches[0].match: must match exactly one oneOf branch, matches 2" in errors[0]
    )


def test_cel_rules_are_evaluated() -> None:
    both = _wasm_plugin(targetRefs=[{"kind": "Gateway", "group": "gateway.networking.k8s.io"}])
    both["spec"]["targetRefs"][0]["name"] = "gw"
    errors = _errors(both, "1.30")
    assert errors and "only one of targetRefs or selector can be set" in errors[0]
    assert errors[0].startswith("WasmPlugin/istio-system/acpw-sender-gw: spec: ")
    bad_scheme = _wasm_plugin(url="ftp://example.com/plugin.wasm")
    assert "spec.url: url must have schema one of" in _errors(bad_scheme, "1.30")[0]
    assert _errors(bad_scheme, "1.13") == []  # no such rule in 1.13
    se = _service_entry("networking.istio.io/v1")
    se["spec"]["ports"][0]["number"] = 0
    assert any("spec.ports[0].number" in e for e in _errors(se, "1.30"))


def test_placeholders_skip_value_checks_only() -> None:
    report = validate_objects([_wasm_plugin(sha256="[unknown: sender digest]")], "1.30")
    assert report.ok, str(report)
    report = validate_objects([_wasm_plugin(priority="[unknown: x]")], "1.30")
    assert not report.ok  # still a type error
    url = "oci://[unknown: aws account id].dkr.ecr.ap-northeast-1.amazonaws.com/sender:v0.1.0"
    report = validate_objects([_wasm_plugin(url=url)], "1.30")
    assert report.ok, str(report)
    assert [v.path for v in report.unevaluated] == ["spec.url"]


def test_metadata_is_checked() -> None:
    obj = _wasm_plugin()
    obj["metadata"]["name"] = "Bad_Name"
    obj["metadata"]["labelz"] = {}
    errors = _errors(obj, "1.13")
    assert any("metadata.name: 'Bad_Name' is not a DNS-1123 subdomain" in e for e in errors)
    assert any("metadata.labelz: unknown field" in e for e in errors)


def _bundle_rules() -> list[str]:
    rules: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for rule in node.get("x-kubernetes-validations") or []:
                rules.add(rule["rule"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(istio_schema.crds_dir().glob("crd-*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
            walk(doc)
    return sorted(rules)


def test_every_cel_rule_in_the_bundles_compiles() -> None:
    """Rules we could not evaluate would be reported as `unevaluated`; today there are none."""
    rules = _bundle_rules()
    assert len(rules) > 40
    unsupported = []
    for rule in rules:
        try:
            cel.compile_rule(rule)
        except cel.CelUnsupportedError as exc:
            unsupported.append(f"{rule}: {exc}")
    assert unsupported == []


def test_cel_subset_semantics() -> None:
    assert cel.evaluate("duration(self) >= duration('1ms')", "1h2m0.5s") is True
    assert cel.evaluate("duration(self) >= duration('1ms')", "100us") is False
    with pytest.raises(cel.CelEvalError):
        cel.evaluate("duration(self) >= duration('1ms')", "10")
    with pytest.raises(cel.CelEvalError):
        cel.evaluate("self.missing == 1", {})
    assert cel.evaluate("has(self.a) || self.b == 1", {"b": 1}) is True
    assert cel.evaluate("self.missing == 1 || true", {}) is True  # CEL error absorption
    with pytest.raises(cel.CelUnsupportedError):
        cel.evaluate("self.optMap().x", {})


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        # Kubernetes library functions the bundles call
        ("url(self).getScheme() in ['http', 'https']", "https://example.com/x", True),
        ("isURL(self)", "not a url", False),
        ("self.substring(7, 8) == '/'", "unix:///run/x.sock", True),
        # (the Gateway API CRD's infrastructure label rule)
        ("self.all(key, key.split('/')[0].size() < 253)", {"example.com/team": "a"}, True),
        ("self.split('/') == ['a', 'b', '']", "a/b/", True),
        ("self.split('/', 2) == ['a', 'b/c'] && self.split('/', 0) == []", "a/b/c", True),
        ("self.split('') == ['a', 'b'] && ''.split('/') == ['']", "ab", True),
        # Go duration and integer syntax
        ("duration(self) >= duration('1ms')", "1μs", False),
        ("duration(self) == duration('0s')", "0", True),
        ("self.all(k, int(k) > 0)", {"80": 1, "443": 2}, True),
        # heterogeneous equality; && / || and all() let a deciding side win over an error
        ("self.x == 'a'", {"x": {}}, False),
        ("self in ['', 'HTTP']", {"a": 1}, False),
        ("self == 1", True, False),
        ("0 < self && self <= 65535", 1.5, True),  # int and double compare by value
        ("self.all(k, int(k) < 10)", {"x": 1, "80": 1}, False),
        ("self.a == 1 || self.b == 1", {"b": 1}, True),
    ],
)
def test_cel_kubernetes_semantics(rule: str, value: Any, expected: bool) -> None:
    assert cel.evaluate(rule, value) is expected


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ("duration(self) > duration('0s')", "1d"),  # no day unit in Go
        ("int(self) > 0", " 10"),
        ("int(self) > 0", "1_0"),
        ("self.all(k, k != '*')", "abc"),  # macros need a list or a map
        ("has(self.a.b)", {}),
        ("has(self.a)", "abc"),
        ("size(self) == 0", None),
        ("self < 2", True),
        ("self.exists_one(k, k.x == 1)", [{"x": 1}, {}]),
        ("self.substring(7, 8) == '/'", "unix://"),
        ("self.split('/') == []", 5),
        ("self.a == 1 && self.b == 1", {}),
    ],
)
def test_cel_runtime_errors(rule: str, value: Any) -> None:
    with pytest.raises(cel.CelEvalError):
        cel.evaluate(rule, value)


def test_istio_operator_fields() -> None:
    iop = {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {"name": "x", "namespace": "istio-system"},
        "spec": {
            "profile": "empty",
            "components": {
                "ingressGateways": [
                    {
                        "name": "gw",
                        "enabled": True,
                        "k8s": {
                            "overlays": [{"kind": "Deployment", "name": "gw", "patches": [{}]}],
                            "strategy": {"rollingUpdate": {"maxUnavailable": 0}},
                            "volumez": [],
                        },
                    }
                ]
            },
        },
    }
    errors = [str(v) for v in iop_schema.validate_istio_operator(iop)]
    assert errors == [
        "IstioOperator/istio-system/x: spec.components.ingressGateways[0].k8s.volumez: "
        "unknown field of the IstioOperator API",
        "IstioOperator/istio-system/x: spec.components.ingressGateways[0].k8s.overlays[0]."
        "patches[0].path: a patch needs a path (Istio skips empty ones)",
    ]
    assert "no IstioOperator CRD" in _errors(iop, "1.24")[0]
    assert _errors(iop, "1.13") == []


# -- the renders --------------------------------------------------------------------------------

RENDERS = case_names()


# Fields ../shared/ISTIO-VERSIONS.md documents as added in a release between two bundles: when the
# newest bundle <= the target release predates the field, its "unknown field" is a gap of the
# reference data, not of the render. Such violations are reported as warnings, not failures.
INTRODUCED_IN: dict[tuple[str, str], int] = {
    ("WasmPlugin", "spec.vmConfig"): 14,
    ("WasmPlugin", "spec.match"): 16,
    ("WasmPlugin", "spec.failStrategy"): 19,
    ("WasmPlugin", "spec.type"): 20,
    ("WasmPlugin", "spec.targetRefs"): 22,
}


def _is_bundle_gap(violation: istio_schema.Violation, bundle: str, target: str) -> bool:
    kind = violation.obj.split("/")[0]
    introduced = INTRODUCED_IN.get((kind, violation.path))
    if introduced is None or not violation.message.startswith("unknown field"):
        return False
    bundle_minor = parse_istio_version(bundle).minor
    target_minor = parse_istio_version(target).minor
    return bundle_minor < introduced <= target_minor


def test_bundle_gap_rule() -> None:
    gap = istio_schema.Violation("WasmPlugin/ns/x", "spec.failStrategy", "unknown field (...)")
    assert _is_bundle_gap(gap, "1.14.6", "1.19")
    assert not _is_bundle_gap(gap, "1.14.6", "1.18")  # the render must not use it on 1.18
    assert not _is_bundle_gap(gap, "1.13.9", "1.13")


@pytest.mark.parametrize("name", RENDERS)
def test_render_istio_objects_match_the_crds(name: str) -> None:
    case = render_case(name)
    report = validate_objects(case.objects, case.istio_version)
    gaps = [v for v in report.violations if _is_bundle_gap(v, report.bundle, case.istio_version)]
    real = [v for v in report.violations if v not in gaps]
    assert not real, f"{name} (Istio {case.istio_version}):\n{report}"
    for note in report.unevaluated:
        warnings.warn(f"{name}: not evaluated: {note}", stacklevel=1)
    for gap in gaps:
        warnings.warn(
            f"{name}: Istio {case.istio_version} checked against bundle {report.bundle}, which "
            f"predates {gap.path} (documented from 1.{INTRODUCED_IN[(gap.obj.split('/')[0], gap.path)]}"
            f"): not proven for {gap.obj}; add a crd-all bundle of that release",
            stacklevel=1,
        )
    istio_objects = [o for o in case.objects if istio_schema.is_istio_object(o)]
    assert len(report.checked) == len(istio_objects)


@pytest.mark.parametrize("name", RENDERS)
def test_render_has_the_istio_objects_each_gateway_needs(name: str) -> None:
    case = render_case(name)
    minor = parse_istio_version(case.istio_version).minor
    in_cluster_operators = case.of_kind("IstioOperator")
    assert bool(in_cluster_operators) == (
        minor < istio_schema.OPERATOR_CRD_REMOVED_MINOR
        and any(g["installer"] == "istioOperator" for g in case.gateways())
    ), "IstioOperator must be a cluster object exactly while its CRD exists (<= 1.23)"
    refs = {object_ref(o) for o in case.objects}
    generation = case.outputs["generation"]
    for gw in case.gateways():
        ns = gw["namespace"]
        if gw["installer"] == "gatewayApi":  # one WasmPlugin per Gateway, by targetRefs
            assert any(r.startswith(f"WasmPlugin/{ns}/acpw-sender-{gw['name']}-vm") for r in refs)
            assert f"Gateway/{ns}/{gw['name']}" in refs, refs
        else:
            assert f"WasmPlugin/{ns}/acpw-sender-{gw['name']}-{generation}" in refs, refs
        envoy_filter = f"EnvoyFilter/{ns}/acpw-receiver-{gw['name']}-{generation}"
        assert (envoy_filter in refs) == (minor <= 20), refs
        for kind in ("ServiceEntry", "DestinationRule"):
            assert any(r.startswith(f"{kind}/{ns}/acpw-monitoring-") for r in refs), (kind, refs)


@pytest.mark.parametrize("name", [n for n in RENDERS if n.startswith("gwapi-")])
def test_gateway_api_renders_target_the_gateway_and_match_the_crds(name: str) -> None:
    """The targetRefs WasmPlugin of each supported release against that release's CRD bundle
    (CEL rules included: one of selector / targetRef / targetRefs), and its reference resolves
    to a Gateway of the render in the plugin's own namespace."""
    case = render_case(name)
    [plugin] = [
        o
        for o in case.of_kind("WasmPlugin")
        if o["metadata"]["name"].startswith("acpw-sender-partner-gateway-vm")
    ]
    report = validate_objects([plugin], case.istio_version)
    assert report.ok, str(report)
    assert "selector" not in plugin["spec"]
    [ref] = plugin["spec"]["targetRefs"]
    assert (ref["group"], ref["kind"]) == ("gateway.networking.k8s.io", "Gateway")
    assert "namespace" not in ref  # istiod refuses a targetRef into another namespace
    refs = {object_ref(o) for o in case.objects}
    assert f"Gateway/{plugin['metadata']['namespace']}/{ref['name']}" in refs
    # A selector next to targetRefs is refused by the CRD from 1.24 (so never both); the newest
    # pinned bundle at or below 1.26 / 1.28 is 1.23.6, which predates that rule.
    both = copy.deepcopy(plugin)
    both["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    if parse_istio_version(report.bundle).minor >= 24:
        assert not validate_objects([both], case.istio_version).ok


@pytest.mark.parametrize("name", RENDERS)
def test_render_istio_operator_fields(name: str) -> None:
    case = render_case(name)
    for iop in case.istio_operators():
        errors = iop_schema.validate_istio_operator(iop)
        assert not errors, "\n".join(map(str, errors))


def test_a_render_mutated_like_a_newer_release_is_caught() -> None:
    """The 1.13 dev render with a 1.19+ field: the layer must fail it, naming object and field."""
    case = render_case("dev")
    objs = copy.deepcopy(case.objects)
    plugin = next(o for o in objs if o["kind"] == "WasmPlugin")
    plugin["spec"]["failStrategy"] = "FAIL_OPEN"
    report = validate_objects(objs, case.istio_version)
    assert [v.path for v in report.violations] == ["spec.failStrategy"]
    assert report.violations[0].obj == object_ref(plugin)


@pytest.mark.parametrize("bundle_version", sorted(istio_schema.available_bundles()))
def test_destination_rule_subject_alt_names_exist_in_every_bundle(
    bundle_version: tuple[int, int, int],
) -> None:
    """The render sets DestinationRule tls.subjectAltNames on every Istio version: every bundle's
    DestinationRule, in each networking version it serves, must keep it (a list of strings), and
    prune a misspelt name, so the check is not vacuous."""
    bundle = istio_schema.Bundle(bundle_version, istio_schema.available_bundles()[bundle_version])
    served = bundle.served_versions("networking.istio.io", "DestinationRule")
    assert served, f"bundle {bundle.name} serves no DestinationRule"
    host = "monitoring.ap-northeast-1.amazonaws.com"
    for version in served:
        tls: dict[str, Any] = {"mode": "SIMPLE", "sni": host, "subjectAltNames": [host]}
        rule: dict[str, Any] = {
            "apiVersion": f"networking.istio.io/{version}",
            "kind": "DestinationRule",
            "metadata": {"name": "acpw-monitoring", "namespace": "istio-system"},
            "spec": {"host": host, "exportTo": ["."], "trafficPolicy": {"tls": tls}},
        }
        report = bundle.validate(rule)
        assert report.ok, f"bundle {bundle.name} {version}: {report}"
        misspelt = copy.deepcopy(rule)
        misspelt["spec"]["trafficPolicy"]["tls"]["subjectAltName"] = [host]
        assert not bundle.validate(misspelt).ok, f"bundle {bundle.name} {version} kept a typo"
        wrong_type = copy.deepcopy(rule)
        wrong_type["spec"]["trafficPolicy"]["tls"]["subjectAltNames"] = host
        assert not bundle.validate(wrong_type).ok, f"bundle {bundle.name} {version}: not a list"

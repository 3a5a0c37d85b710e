"""The CrossGuard policy pack in policy/: each validation on its own, then the whole pack.

The whole pack runs the way the Pulumi CLI drives it, minus the CLI: the recorded registrations of
the example stacks go through pulumi-policy's own analyzer service (Configure, Analyze per
resource, AnalyzeStack) as the engine would send them during a preview, secrets marked. The last
test starts ``policy/__main__.py`` itself and talks to it over gRPC.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pulumi_policy.policy as sdk_policy
import pytest
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    Secret,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy import acpw_policy as pack
from tools.mock_engine import SECRET_SIG, SIG_KEY, Registration
from tools.render import Render, read_stack_config, render_stack

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / "policy"
EXAMPLE_STACKS_CONFIG = json.loads((POLICY_DIR / "example-stacks.json").read_text())

# The mock engine answers "[unknown: ...]" for values only the cloud knows. The credentials get
# realistic stand-ins (AWS's documented example key), so the copy check has values to find; every
# other placeholder becomes the engine's "unknown during preview" sentinel.
FAKE_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
FAKE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
STAND_INS = {
    "[unknown: access key id]": FAKE_KEY_ID,
    "[unknown: secret access key]": FAKE_SECRET,
}

WASM = "kubernetes:extensions.istio.io/v1alpha1:WasmPlugin"
DR_V1 = "kubernetes:networking.istio.io/v1:DestinationRule"
ENVOY_FILTER = "kubernetes:networking.istio.io/v1alpha3:EnvoyFilter"
IOP = "kubernetes:install.istio.io/v1alpha1:IstioOperator"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
K8S_SECRET = "kubernetes:core/v1:Secret"


# --- building what the SDK hands a validation ----------------------------------------------------


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def resource_args(
    resource_type: str, props: dict[str, Any], config: dict[str, Any] | None = None
) -> ResourceValidationArgs:
    """Args as pulumi-policy builds them in Analyze: props behind its unknown-checking proxy."""
    return ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(props),
        f"urn:pulumi:test::acpw::{resource_type}::r",
        "r",
        _options(),
        None,
        config,
    )


def policy_resource(resource_type: str, props: dict[str, Any], name: str = "r") -> PolicyResource:
    urn = f"urn:pulumi:test::acpw::{resource_type}::{name}"
    return PolicyResource(
        resource_type, unknown_checking_proxy(props), urn, name, _options(), None, None, [], {}
    )


def violations(validate: Callable[[Any, Any], None], args: Any) -> list[str]:
    found: list[str] = []
    validate(args, lambda message, urn=None: found.append(message))
    return found


def check(
    validate: Callable[[Any, Any], None],
    resource_type: str,
    props: dict[str, Any],
    config: dict[str, Any] | None = None,
) -> list[str]:
    return violations(validate, resource_args(resource_type, props, config))


# --- receiver IAM policy -------------------------------------------------------------------------


def _user_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": "acpw-dev",
        "policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
    }


PUT_IN_NAMESPACE = {
    "Effect": "Allow",
    "Action": "cloudwatch:PutMetricData",
    "Resource": "*",
    "Condition": {"StringEquals": {"cloudwatch:namespace": "AWSCloudWatchProxyWasm"}},
}


def test_receiver_policy_with_only_put_metric_data_in_a_namespace_passes() -> None:
    props = _user_policy(PUT_IN_NAMESPACE)
    assert check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, props) == []
    # a list form and a Deny statement beside it are fine too
    listed = {**PUT_IN_NAMESPACE, "Action": ["cloudwatch:PutMetricData"]}
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"x": "y"}}}
    assert (
        check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, _user_policy(listed, deny))
        == []
    )


def test_receiver_policy_granting_more_than_put_metric_data_fails() -> None:
    wider = {**PUT_IN_NAMESPACE, "Action": ["cloudwatch:PutMetricData", "cloudwatch:GetMetricData"]}
    found = check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, _user_policy(wider))
    assert len(found) == 1 and "cloudwatch:GetMetricData" in found[0]

    wildcard = {**PUT_IN_NAMESPACE, "Action": "cloudwatch:*"}
    found = check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, _user_policy(wildcard))
    assert len(found) == 1 and "cloudwatch:*" in found[0]

    not_action = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    found = check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, _user_policy(not_action))
    assert found == ["Statement[0] uses NotAction: it grants every action it does not list"]


def test_receiver_policy_without_namespace_condition_fails() -> None:
    bare = {k: v for k, v in PUT_IN_NAMESPACE.items() if k != "Condition"}
    found = check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, _user_policy(bare))
    assert len(found) == 1 and "cloudwatch:namespace" in found[0]

    like = {**PUT_IN_NAMESPACE, "Condition": {"StringLike": {"cloudwatch:namespace": "*"}}}
    found = check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, _user_policy(like))
    assert len(found) == 1 and "StringEquals" in found[0]


def test_receiver_policy_namespace_allow_list_from_config() -> None:
    props = _user_policy(PUT_IN_NAMESPACE)
    ok = {"namespaces": ["AWSCloudWatchProxyWasm"]}
    other = {"namespaces": ["Example/Gateways"]}
    assert check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, props, ok) == []
    found = check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, props, other)
    assert len(found) == 1 and "Example/Gateways" in found[0]


def test_policies_that_do_not_grant_put_metric_data_are_out_of_scope() -> None:
    ecr = {
        "Effect": "Allow",
        "Action": ["ecr:BatchGetImage", "ecr:GetAuthorizationToken"],
        "Resource": "*",
    }
    assert check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, _user_policy(ecr)) == []
    # the same document on another resource type is not looked at
    wildcard = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    assert (
        check(
            pack.validate_receiver_iam_policy,
            "aws:iam/rolePolicy:RolePolicy",
            _user_policy(wildcard),
        )
        == []
    )
    assert (
        len(check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, _user_policy(wildcard)))
        == 2
    )


def test_receiver_policy_computed_during_preview_is_not_judged() -> None:
    props = {"user": "acpw-dev", "policy": UNKNOWN_STRING_VALUE}
    assert check(pack.validate_receiver_iam_policy, pack.IAM_USER_POLICY, props) == []


# --- credentials ----------------------------------------------------------------------------------


def test_secret_with_secret_data_passes_and_plain_data_fails() -> None:
    whole = {"type": "Opaque", "stringData": Secret({"ACPW_AWS_SECRET_ACCESS_KEY": FAKE_SECRET})}
    per_key = {"type": "Opaque", "data": {"AWS_SECRET_ACCESS_KEY": Secret("d0phbHI=")}}
    plain = {"type": "Opaque", "stringData": {"ACPW_AWS_SECRET_ACCESS_KEY": FAKE_SECRET}}
    half = {"type": "Opaque", "data": {"a": Secret("eA=="), "b": "eQ=="}}
    assert check(pack.validate_no_plain_credentials, K8S_SECRET, whole) == []
    assert check(pack.validate_no_plain_credentials, K8S_SECRET, per_key) == []
    assert check(pack.validate_no_plain_credentials, K8S_SECRET, plain) == [
        "stringData is not a secret value: wrap it with pulumi.Output.secret"
    ]
    assert check(pack.validate_no_plain_credentials, K8S_SECRET, half) == [
        "data is not a secret value: wrap it with pulumi.Output.secret"
    ]


def test_registry_pull_secret_must_be_secret() -> None:
    config = json.dumps({"auths": {"registry.example": {"auth": "QVdTOnRva2Vu"}}})
    props: dict[str, Any] = {
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": config},
    }
    assert check(pack.validate_no_plain_credentials, K8S_SECRET, props) == [
        "stringData is not a secret value: wrap it with pulumi.Output.secret"
    ]
    props["stringData"] = Secret(props["stringData"])
    assert check(pack.validate_no_plain_credentials, K8S_SECRET, props) == []


def test_credential_fields_outside_secrets_fail_on_any_resource() -> None:
    push: dict[str, Any] = {
        "target": "registry.example/acpw/sender",
        "target_credentials": {"username": "AWS", "password": "token"},
    }
    found = check(pack.validate_no_plain_credentials, "pulumi-python:dynamic:Resource", push)
    assert found == ["target_credentials holds a credential in a non-secret field"]
    push["target_credentials"] = Secret(push["target_credentials"])
    assert check(pack.validate_no_plain_credentials, "pulumi-python:dynamic:Resource", push) == []


@pytest.mark.parametrize(
    "key",
    [
        "ACPW_AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "secretAccessKey",
        "password",
        ".dockercfg",
    ],
)
def test_credential_named_keys_in_a_config_map_fail(key: str) -> None:
    props: dict[str, Any] = {"data": {key: "value", "region": "ap-northeast-1"}}
    assert check(pack.validate_no_plain_credentials, CONFIG_MAP, props) == [
        f"data.{key} holds a credential in a non-secret field"
    ]
    props["data"][key] = Secret("value")
    assert check(pack.validate_no_plain_credentials, CONFIG_MAP, props) == []


def test_credential_env_vars_need_secret_key_refs() -> None:
    def deployment(env: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "spec": {"template": {"spec": {"containers": [{"name": "istio-proxy", "env": env}]}}}
        }

    ref = {"secretKeyRef": {"name": "acpw-aws-credentials", "key": "ACPW_AWS_SECRET_ACCESS_KEY"}}
    good = deployment(
        [{"name": "ACPW_AWS_SECRET_ACCESS_KEY", "valueFrom": ref}, {"name": "A", "value": "b"}]
    )
    literal = deployment([{"name": "ACPW_AWS_ACCESS_KEY_ID", "value": FAKE_KEY_ID}])
    hidden = deployment([{"name": "ACPW_AWS_ACCESS_KEY_ID", "value": Secret(FAKE_KEY_ID)}])
    assert check(pack.validate_no_plain_credentials, pack.DEPLOYMENT_PATCH, good) == []
    assert check(pack.validate_no_plain_credentials, pack.DEPLOYMENT_PATCH, hidden) == []
    assert check(pack.validate_no_plain_credentials, pack.DEPLOYMENT_PATCH, literal) == [
        "spec.template.spec.containers[0].env[0] sets ACPW_AWS_ACCESS_KEY_ID to a literal: "
        "use valueFrom.secretKeyRef or a secret"
    ]


def test_volume_named_secret_and_env_key_lists_are_not_credentials() -> None:
    props = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [{"name": "v", "secret": {"secretName": "acpw-aws-credentials"}}]
                }
            },
            "host_env_keys": ["ACPW_AWS_ACCESS_KEY_ID", "ACPW_AWS_SECRET_ACCESS_KEY"],
            "imagePullSecret": "acpw-registry-pull",
        }
    }
    assert check(pack.validate_no_plain_credentials, pack.DEPLOYMENT_PATCH, props) == []


def _access_key(secret: Any = None) -> PolicyResource:
    return policy_resource(
        pack.ACCESS_KEY,
        {"user": "acpw-dev", "secret": Secret(FAKE_SECRET if secret is None else secret)},
        name="key",
    )


def test_access_key_secret_copied_into_a_plain_field_is_found_by_value() -> None:
    leaked = policy_resource(
        CONFIG_MAP,
        {"data": {"env": f"AWS_SECRET_ACCESS_KEY={FAKE_SECRET}\n"}},
        name="anything-at-all",
    )
    kept = policy_resource(K8S_SECRET, {"stringData": Secret({"k": FAKE_SECRET})}, name="s")
    args = StackValidationArgs([_access_key(), leaked, kept])
    found: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append((message, urn))

    pack.validate_access_key_secret_not_copied(args, report)
    assert found == [("data.env contains the secret of access key key in plain text", leaked.urn)]


def test_access_key_secret_unknown_during_preview_has_nothing_to_compare() -> None:
    args = StackValidationArgs(
        [_access_key(UNKNOWN_STRING_VALUE), policy_resource(CONFIG_MAP, {"data": {"a": "b"}})]
    )
    assert violations(pack.validate_access_key_secret_not_copied, args) == []


# --- WasmPlugin ------------------------------------------------------------------------------------

DIGEST = "3b4c1f0e7d5a9b2c8e6f4a1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b"


def _wasm(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin", "spec": spec}


@pytest.mark.parametrize(
    "spec",
    [
        {"url": "oci://ghcr.io/x/sender:v0.1.0", "sha256": DIGEST},
        {"url": f"oci://registry.example/sender@sha256:{DIGEST}"},
        {"url": f"oci://registry.example/sender@sha256:{DIGEST}", "sha256": DIGEST},
        {"url": "oci://ghcr.io/x/sender:v0.1.0", "sha256": UNKNOWN_STRING_VALUE},
    ],
)
def test_pinned_wasm_plugins_pass(spec: dict[str, Any]) -> None:
    assert check(pack.validate_wasm_plugin_pinned, WASM, _wasm(**spec)) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"url": "oci://ghcr.io/x/sender:v0.1.0"}, "is not pinned"),
        ({"url": "oci://ghcr.io/x/sender:v0.1.0", "sha256": "latest"}, "is not a sha256 digest"),
        (
            {"url": f"oci://registry.example/sender@sha256:{DIGEST}", "sha256": "0" * 64},
            "differ",
        ),
    ],
)
def test_unpinned_wasm_plugins_fail(spec: dict[str, Any], expected: str) -> None:
    found = check(pack.validate_wasm_plugin_pinned, WASM, _wasm(**spec))
    assert len(found) == 1 and expected in found[0]


def test_fail_strategy_open_passes_closed_fails_unless_allowed() -> None:
    open_ = _wasm(failStrategy="FAIL_OPEN")
    closed = _wasm(failStrategy="FAIL_CLOSE")
    assert check(pack.validate_wasm_fail_open, WASM, open_, {"istioVersion": "1.30"}) == []
    found = check(pack.validate_wasm_fail_open, WASM, closed, {"istioVersion": "1.30"})
    assert len(found) == 1 and "FAIL_CLOSE" in found[0]
    assert check(pack.validate_wasm_fail_open, WASM, closed, {"allowFailClosed": True}) == []


def test_absent_fail_strategy_fails_closed_from_istio_1_19() -> None:
    found = check(pack.validate_wasm_fail_open, WASM, _wasm(), {"istioVersion": "1.19"})
    assert len(found) == 1 and "not set" in found[0]
    found = check(pack.validate_wasm_fail_open, WASM, _wasm(), {})
    assert len(found) == 1 and "istioVersion" in found[0]
    assert (
        check(
            pack.validate_wasm_fail_open,
            WASM,
            _wasm(),
            {"istioVersion": "1.19", "allowFailClosed": True},
        )
        == []
    )


def test_fail_strategy_is_not_applicable_before_istio_1_19() -> None:
    args = resource_args(WASM, _wasm(), {"istioVersion": "1.13"})
    with pytest.raises(sdk_policy._NotApplicableError) as raised:
        violations(pack.validate_wasm_fail_open, args)
    assert raised.value.reason == "WasmPlugin.failStrategy exists from Istio 1.19"


# --- DestinationRule -------------------------------------------------------------------------------


def _dr(tls: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    traffic: dict[str, Any] = {"tls": tls} if tls is not None else {}
    traffic.update(extra)
    return {"spec": {"host": "monitoring.ap-northeast-1.amazonaws.com", "trafficPolicy": traffic}}


SANS = ["monitoring.ap-northeast-1.amazonaws.com"]


def test_destination_rule_with_ca_and_sans_passes() -> None:
    tls = {
        "mode": "SIMPLE",
        "caCertificates": "/etc/ssl/certs/ca-certificates.crt",
        "subjectAltNames": SANS,
    }
    assert (
        check(pack.validate_destination_rule_tls, DR_V1, _dr(tls), {"istioVersion": "1.13"}) == []
    )
    assert check(pack.validate_destination_rule_tls, DR_V1, _dr(tls), {}) == []


def test_destination_rule_without_ca_verifies_only_from_istio_1_21() -> None:
    tls = {"mode": "SIMPLE", "subjectAltNames": SANS}
    assert (
        check(pack.validate_destination_rule_tls, DR_V1, _dr(tls), {"istioVersion": "1.21"}) == []
    )
    found = check(pack.validate_destination_rule_tls, DR_V1, _dr(tls), {"istioVersion": "1.20"})
    assert len(found) == 1 and "does not verify" in found[0]
    found = check(pack.validate_destination_rule_tls, DR_V1, _dr(tls), {})
    assert len(found) == 1 and "istioVersion" in found[0]


def test_destination_rule_subject_alt_names_required_by_default_and_configurable() -> None:
    tls = {"mode": "SIMPLE", "caCertificates": "/etc/ssl/certs/ca-certificates.crt"}
    found = check(pack.validate_destination_rule_tls, DR_V1, _dr(tls), {"istioVersion": "1.30"})
    assert found == [
        "spec.trafficPolicy.tls has no subjectAltNames: any certificate the CA signed is accepted"
    ]
    config = {"istioVersion": "1.30", "requireSubjectAltNames": False}
    assert check(pack.validate_destination_rule_tls, DR_V1, _dr(tls), config) == []


def test_destination_rule_that_skips_verification_or_sends_plain_text_fails() -> None:
    config = {"istioVersion": "1.30", "requireSubjectAltNames": False}
    skip = {"mode": "SIMPLE", "insecureSkipVerify": True, "subjectAltNames": SANS}
    found = check(pack.validate_destination_rule_tls, DR_V1, _dr(skip), config)
    assert len(found) == 1 and "insecureSkipVerify" in found[0]
    found = check(pack.validate_destination_rule_tls, DR_V1, _dr(None), config)
    assert len(found) == 1 and "no TLS" in found[0]
    port = {"port": {"number": 443}, "tls": {"mode": "DISABLE"}}
    ok = {"mode": "SIMPLE", "subjectAltNames": SANS}
    found = check(
        pack.validate_destination_rule_tls, DR_V1, _dr(ok, portLevelSettings=[port]), config
    )
    assert found == ["spec.trafficPolicy.portLevelSettings[0].tls: mode DISABLE sends plain text"]


# --- BOOTSTRAP EnvoyFilter -------------------------------------------------------------------------


def _bootstrap_filter() -> PolicyResource:
    spec = {
        "configPatches": [{"applyTo": "BOOTSTRAP", "patch": {"operation": "MERGE", "value": {}}}]
    }
    return policy_resource(ENVOY_FILTER, {"spec": spec}, name="receiver")


def _stack_violations(
    validate: Callable[[Any, Any], None], resources: list[PolicyResource], config: dict[str, Any]
) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    validate(
        StackValidationArgs(resources, config),
        lambda message, urn=None: found.append((message, urn)),
    )
    return found


def test_bootstrap_filter_before_istio_1_21_passes() -> None:
    assert (
        _stack_violations(
            pack.validate_no_ignored_bootstrap_filter,
            [_bootstrap_filter()],
            {"istioVersion": "1.20.8"},
        )
        == []
    )


def test_bootstrap_filter_on_istio_1_21_or_unknown_fails() -> None:
    bootstrap = _bootstrap_filter()
    found = _stack_violations(
        pack.validate_no_ignored_bootstrap_filter, [bootstrap], {"istioVersion": "1.21"}
    )
    assert len(found) == 1 and found[0][1] == bootstrap.urn and "Istio 1.21" in found[0][0]
    found = _stack_violations(pack.validate_no_ignored_bootstrap_filter, [bootstrap], {})
    assert len(found) == 1 and "no known Istio version" in found[0][0]


def test_bootstrap_filter_next_to_networking_v1_objects_fails_without_config() -> None:
    v1 = policy_resource(DR_V1, _dr({"mode": "SIMPLE"}), name="dr")
    found = _stack_violations(
        pack.validate_no_ignored_bootstrap_filter, [_bootstrap_filter(), v1], {}
    )
    assert len(found) == 1 and "networking.istio.io/v1" in found[0][0]


def test_envoy_filters_without_bootstrap_patches_are_fine() -> None:
    spec = {"configPatches": [{"applyTo": "HTTP_FILTER", "patch": {"operation": "INSERT_BEFORE"}}]}
    other = policy_resource(ENVOY_FILTER, {"spec": spec})
    assert (
        _stack_violations(
            pack.validate_no_ignored_bootstrap_filter, [other], {"istioVersion": "1.30"}
        )
        == []
    )


# --- gateway rollouts ------------------------------------------------------------------------------


def _patch(strategy: Any) -> dict[str, Any]:
    return {"kind": "Deployment", "spec": {} if strategy is None else {"strategy": strategy}}


@pytest.mark.parametrize("zero", [0, 0.0, "0", "0%"])
def test_deployment_patch_with_zero_max_unavailable_passes(zero: Any) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": zero}}
    assert check(pack.validate_gateway_rollout, pack.DEPLOYMENT_PATCH, _patch(strategy)) == []


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ({"rollingUpdate": {"maxUnavailable": 1}}, "maxUnavailable is 1"),
        ({"rollingUpdate": {"maxUnavailable": "25%"}}, "maxUnavailable is '25%'"),
        ({"rollingUpdate": {"maxSurge": 1}}, "maxUnavailable is None"),
        ({"type": "Recreate"}, "Recreate"),
        (None, "spec.strategy is not set"),
    ],
)
def test_deployment_patch_that_can_take_pods_down_fails(strategy: Any, expected: str) -> None:
    found = check(pack.validate_gateway_rollout, pack.DEPLOYMENT_PATCH, _patch(strategy))
    assert len(found) == 1 and expected in found[0]


def _iop(k8s: dict[str, Any], enabled: bool = True) -> dict[str, Any]:
    gateway = {"name": "istio-ingressgateway", "enabled": enabled, "k8s": k8s}
    return {"spec": {"profile": "empty", "components": {"ingressGateways": [gateway]}}}


def test_istio_operator_gateway_strategy_and_overlays() -> None:
    zero = {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert check(pack.validate_gateway_rollout, IOP, _iop({"strategy": zero})) == []

    overlay_to_zero = {
        "overlays": [
            {
                "kind": "Deployment",
                "name": "istio-ingressgateway",
                "patches": [{"path": "spec.strategy.rollingUpdate.maxUnavailable", "value": 0}],
            }
        ]
    }
    assert check(pack.validate_gateway_rollout, IOP, _iop(overlay_to_zero)) == []

    overlay_undoes = {
        "strategy": zero,
        "overlays": [
            {
                "kind": "Deployment",
                "patches": [{"path": "spec.strategy.rollingUpdate.maxUnavailable", "value": "50%"}],
            }
        ],
    }
    found = check(pack.validate_gateway_rollout, IOP, _iop(overlay_undoes))
    assert len(found) == 1 and "'50%'" in found[0]

    found = check(pack.validate_gateway_rollout, IOP, _iop({}))
    assert found == [
        "spec.components.ingressGateways[0].k8s.strategy is not set: the gateway keeps the default 25% maxUnavailable"
    ]
    assert check(pack.validate_gateway_rollout, IOP, _iop({}, enabled=False)) == []


def _overlay_configmap(strategy: Any, component: str = "gateway-settings") -> dict[str, Any]:
    overlay = {"spec": {} if strategy is None else {"strategy": strategy}}
    return {
        "metadata": {"labels": {"app.kubernetes.io/component": component}},
        "data": {"deployment": json.dumps(overlay)},
    }


def test_a_gateway_api_overlay_keeps_max_unavailable_zero() -> None:
    """istiod merges the overlay's spec.strategy into <gateway>-istio (installer gatewayApi)."""
    zero = {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    cm = pack.CONFIG_MAP
    assert check(pack.validate_gateway_rollout, cm, _overlay_configmap(zero)) == []
    found = check(
        pack.validate_gateway_rollout,
        cm,
        _overlay_configmap({"rollingUpdate": {"maxUnavailable": 2}}),
    )
    assert len(found) == 1 and "maxUnavailable is 2" in found[0]
    [unset] = check(pack.validate_gateway_rollout, cm, _overlay_configmap(None))
    assert "data.deployment spec.strategy is not set" in unset
    # Other ConfigMaps (the bootstrap file, a user's) are not overlays.
    assert check(pack.validate_gateway_rollout, cm, _overlay_configmap(None, "receiver")) == []


def test_parse_istio_version() -> None:
    assert pack.parse_istio_version("1.13") == (13, 0)
    assert pack.parse_istio_version("1.21.3") == (21, 3)
    assert pack.parse_istio_version(" 1.30 ") == (30, 0)
    assert pack.parse_istio_version("2.0") is None
    assert pack.parse_istio_version(None) is None


# --- the whole pack through pulumi-policy's analyzer service -----------------------------------------


@pytest.fixture
def secret_markers(monkeypatch: pytest.MonkeyPatch) -> None:
    """What policy/__main__.py does before it serves: validations see Secret values."""
    monkeypatch.setattr(sdk_policy, "deserialize_properties", pack.deserialize_keeping_secrets)


def _to_wire(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_wire(v) for v in value]
    if isinstance(value, str):
        if value in STAND_INS:
            return STAND_INS[value]
        if "[unknown:" in value:
            return UNKNOWN_STRING_VALUE
    return value


def _wire_secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def wire_properties(registration: Registration, *, outputs: bool = False) -> struct_pb2.Struct:
    """The properties the engine would send for a recorded registration (internal keys dropped,
    secrets marked). For AnalyzeStack (``outputs``) an access key also carries its secret outputs."""
    props = {k: v for k, v in registration.inputs.items() if not k.startswith("__")}
    if outputs and registration.type == pack.ACCESS_KEY:
        props["secret"] = _wire_secret("[unknown: secret access key]")
        props["sesSmtpPasswordV4"] = _wire_secret("[unknown: smtp password]")
    struct = struct_pb2.Struct()
    json_format.ParseDict(_to_wire(props), struct)
    return struct


def _hand_made(resource_type: str, name: str, props: dict[str, Any]) -> Registration:
    urn = f"urn:pulumi:bad::acpw::{resource_type}::{name}"
    return Registration(resource_type, name, urn, props, "", [], True, "")


class PackRun:
    """One run of the pack over a list of registrations: (policy, urn, message) per violation."""

    def __init__(
        self,
        registrations: list[Registration],
        *,
        stack_istio_version: str | None,
        config: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        servicer = sdk_policy._PolicyAnalyzerServicer(
            pack.PACK_NAME,
            "0.1.0",
            pack.build_policies(stack_istio_version),
            EnforcementLevel.MANDATORY,
        )
        policy_config = {}
        for policy_name, properties in (config or {}).items():
            struct = struct_pb2.Struct()
            json_format.ParseDict(properties, struct)
            policy_config[policy_name] = proto.PolicyConfig(
                enforcementLevel=proto.MANDATORY, properties=struct
            )
        servicer.Configure(proto.ConfigureAnalyzerRequest(policyConfig=policy_config), None)
        diagnostics = []
        self.not_applicable: list[tuple[str, str, str]] = []
        for r in registrations:
            request = proto.AnalyzeRequest(
                urn=r.urn, type=r.type, name=r.name, properties=wire_properties(r)
            )
            response = servicer.Analyze(request, None)
            diagnostics += [(d, r.urn) for d in response.diagnostics]
            self.not_applicable += [
                (n.policy_name, r.type, n.reason) for n in response.not_applicable
            ]
        stack_request = proto.AnalyzeStackRequest(
            resources=[
                proto.AnalyzerResource(
                    urn=r.urn,
                    type=r.type,
                    name=r.name,
                    properties=wire_properties(r, outputs=True),
                    parent=r.parent,
                    dependencies=r.dependencies,
                )
                for r in registrations
            ]
        )
        response = servicer.AnalyzeStack(stack_request, None)
        diagnostics += [(d, d.urn) for d in response.diagnostics]
        self.violations = [(d.policyName, urn, d.message) for d, urn in diagnostics]
        self.type_of = {r.urn: r.type for r in registrations}
        assert all(d.enforcementLevel == proto.MANDATORY for d, _ in diagnostics)

    def by_policy_and_type(self) -> list[tuple[str, str]]:
        return sorted((policy, self.type_of.get(urn, "")) for policy, urn, _ in self.violations)


_RENDERS: dict[str, Render] = {}


def rendered(stack: str) -> Render:
    if stack not in _RENDERS:
        _RENDERS[stack] = render_stack(stack)
    return _RENDERS[stack]


def stack_version(stack: str) -> str:
    return str(read_stack_config(stack)["acpw:istioVersion"])


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.usefixtures("secret_markers")
def test_example_stacks_pass_the_whole_pack(stack: str) -> None:
    render = rendered(stack)
    run = PackRun(
        render.registrations, stack_istio_version=stack_version(stack), config=EXAMPLE_STACKS_CONFIG
    )
    assert run.violations == []
    # the policies did look at the stack's resources: every type a policy is about is there
    types = {r.type for r in render.registrations}
    assert pack.IAM_USER_POLICY in types and K8S_SECRET in types and WASM in types
    assert any(pack.DESTINATION_RULE_RE.match(t) for t in types)
    assert pack.DEPLOYMENT_PATCH in types or IOP in types
    fail_strategy_skipped = [n for n in run.not_applicable if n[0] == "wasm-plugin-fail-open"]
    # Istio 1.13 (dev) has no WasmPlugin.failStrategy; 1.30 (prod) sets FAIL_OPEN
    assert bool(fail_strategy_skipped) == (stack == "dev")


@pytest.mark.usefixtures("secret_markers")
def test_example_stacks_pass_with_subject_alt_names_required() -> None:
    """The DestinationRules pin the certificate's name (subjectAltNames), so the example stacks
    need no override: policy/example-stacks.json turns nothing off and the default pack config
    (requireSubjectAltNames on) finds no violation."""
    assert EXAMPLE_STACKS_CONFIG == {}
    for stack in ("dev", "prod"):
        registrations = rendered(stack).registrations
        assert [r for r in registrations if pack.DESTINATION_RULE_RE.match(r.type)]
        run = PackRun(registrations, stack_istio_version=stack_version(stack))
        assert run.violations == []


@pytest.mark.usefixtures("secret_markers")
def test_fail_closed_stack_is_reported_unless_the_pack_allows_it() -> None:
    config = read_stack_config("prod")
    config["acpw:failStrategy"] = "closed"
    registrations = render_stack("prod", config).registrations
    run = PackRun(registrations, stack_istio_version="1.30", config=EXAMPLE_STACKS_CONFIG)
    assert run.by_policy_and_type() == [("wasm-plugin-fail-open", WASM)] * 2
    allowed = {**EXAMPLE_STACKS_CONFIG, "wasm-plugin-fail-open": {"allowFailClosed": True}}
    assert PackRun(registrations, stack_istio_version="1.30", config=allowed).violations == []


@pytest.mark.usefixtures("secret_markers")
def test_dev_bootstrap_filter_is_reported_when_the_cluster_runs_istio_1_21() -> None:
    registrations = rendered("dev").registrations
    # the policy config's istioVersion wins over the stack's acpw:istioVersion ("1.13")
    config = {**EXAMPLE_STACKS_CONFIG, "no-ignored-bootstrap-envoyfilter": {"istioVersion": "1.21"}}
    run = PackRun(registrations, stack_istio_version="1.13", config=config)
    assert run.by_policy_and_type() == [("no-ignored-bootstrap-envoyfilter", ENVOY_FILTER)]
    # with no version at all, the prod stack's networking.istio.io/v1 objects give it away
    mixed = registrations + [r for r in rendered("prod").registrations if r.type == DR_V1]
    run = PackRun(mixed, stack_istio_version=None, config=EXAMPLE_STACKS_CONFIG)
    assert ("no-ignored-bootstrap-envoyfilter", ENVOY_FILTER) in run.by_policy_and_type()


BAD_RESOURCES = [
    _hand_made(
        pack.IAM_USER_POLICY,
        "metrics",
        {
            "user": "acpw-bad",
            "policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "cloudwatch:*", "Resource": "*"}],
                }
            ),
        },
    ),
    _hand_made(pack.ACCESS_KEY, "key", {"user": "acpw-bad"}),
    _hand_made(
        CONFIG_MAP,
        "env",
        {"data": {"AWS_SECRET_ACCESS_KEY": "[unknown: secret access key]"}},
    ),
    _hand_made(
        K8S_SECRET,
        "creds",
        {"type": "Opaque", "stringData": {"AWS_ACCESS_KEY_ID": "[unknown: access key id]"}},
    ),
    _hand_made(
        WASM,
        "sender",
        {"spec": {"url": "oci://ghcr.io/x/sender:latest", "failStrategy": "FAIL_OPEN"}},
    ),
    _hand_made(
        DR_V1,
        "cloudwatch",
        {
            "spec": {
                "host": "monitoring.example",
                "trafficPolicy": {"tls": {"mode": "SIMPLE", "insecureSkipVerify": True}},
            }
        },
    ),
    _hand_made(
        pack.DEPLOYMENT_PATCH,
        "gateway",
        {"spec": {"strategy": {"rollingUpdate": {"maxUnavailable": 1}}}},
    ),
    _hand_made(
        pack.DEPLOYMENT_PATCH,
        "unguarded-pods",
        {
            "metadata": {"namespace": "edge", "name": "unguarded"},
            "spec": {"template": {"metadata": {"labels": {"a": "b"}}}},
        },
    ),
]


@pytest.mark.usefixtures("secret_markers")
def test_a_bad_stack_gets_each_expected_violation() -> None:
    run = PackRun(BAD_RESOURCES, stack_istio_version="1.30", config=EXAMPLE_STACKS_CONFIG)
    assert run.by_policy_and_type() == sorted(
        [
            ("receiver-iam-least-privilege", pack.IAM_USER_POLICY),
            ("receiver-iam-least-privilege", pack.IAM_USER_POLICY),  # wildcard, and no namespace
            ("no-plain-credentials", CONFIG_MAP),  # AWS_SECRET_ACCESS_KEY key
            ("no-plain-credentials", K8S_SECRET),  # plain stringData
            ("access-key-secret-not-copied", CONFIG_MAP),
            ("wasm-plugin-pinned", WASM),
            ("destination-rule-verifies-server", DR_V1),
            ("gateway-rollout-max-unavailable-zero", pack.DEPLOYMENT_PATCH),
            ("gateway-pod-patch-has-strategy", pack.DEPLOYMENT_PATCH),
        ]
    )
    messages = [message for _, _, message in run.violations]
    assert not any(FAKE_SECRET in m or FAKE_KEY_ID in m for m in messages), (
        "a violation echoed a credential"
    )


def test_without_the_secret_hook_the_sdk_hides_which_fields_are_secret() -> None:
    """Why policy/__main__.py calls preserve_secret_markers: pulumi-policy 1.21 unwraps secrets
    before a validation runs, so the example stacks' Secrets would look plain."""
    secrets = [r for r in rendered("prod").registrations if r.type == K8S_SECRET]
    run = PackRun(secrets, stack_istio_version="1.30", config=EXAMPLE_STACKS_CONFIG)
    assert {policy for policy, _, _ in run.violations} == {"no-plain-credentials"}
    assert len(run.violations) == len(secrets)


# --- policy/__main__.py, served over gRPC as the CLI runs it ----------------------------------------


@pytest.fixture
def served_pack() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    env = {**os.environ, "PULUMI_CONFIG": json.dumps({"acpw:istioVersion": "1.13"})}
    # The CLI's python policy analyzer runs `python -m pulumi.policy <engine> .` in the pack dir.
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=POLICY_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port.isdigit():
            process.kill()
            raise AssertionError(f"policy pack did not start: {port!r} {process.communicate()[1]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_policy_main_serves_the_pack_with_the_stack_version(served_pack: Any) -> None:
    info = served_pack.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == pack.PACK_NAME
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in pack.build_policies())

    def analyze(resource_type: str, props: dict[str, Any]) -> list[tuple[str, str]]:
        struct = struct_pb2.Struct()
        json_format.ParseDict(props, struct)
        request = proto.AnalyzeRequest(
            urn=f"urn:pulumi:dev::acpw::{resource_type}::x",
            type=resource_type,
            name="x",
            properties=struct,
        )
        response = served_pack.Analyze(request)
        return [(d.policyName, d.message) for d in response.diagnostics]

    secret = {"type": "Opaque", "stringData": _wire_secret({"AWS_SECRET_ACCESS_KEY": "x" * 40})}
    assert analyze(K8S_SECRET, secret) == []
    plain = {"type": "Opaque", "stringData": {"AWS_SECRET_ACCESS_KEY": "x" * 40}}
    assert [name for name, _ in analyze(K8S_SECRET, plain)] == ["no-plain-credentials"]
    # the stack's acpw:istioVersion 1.13 reached the pack: no caCertificates is a problem there
    dr = {
        "spec": {
            "host": "h",
            "trafficPolicy": {"tls": {"mode": "SIMPLE", "subjectAltNames": ["h"]}},
        }
    }
    found = analyze(DR_V1, dr)
    assert len(found) == 1 and "Istio 1.13 does not verify" in found[0][1]


# --- the pack's own files ----------------------------------------------------------------------------


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_pack_environment_pins_the_same_versions_as_the_tests() -> None:
    pack_pins = _pins(POLICY_DIR / "requirements.txt")
    tested = _pins(ROOT / "requirements.txt") | _pins(ROOT / "requirements-dev.txt")
    assert set(pack_pins) == {"pulumi", "pulumi-policy"}
    assert all(tested[name] == version for name, version in pack_pins.items())


def test_pulumi_policy_yaml_runs_the_pack_from_its_own_ignored_virtualenv() -> None:
    manifest = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"] == {"name": "python", "options": {"virtualenv": ".venv"}}
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "policy/.venv/bin/python"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0


@pytest.mark.parametrize("version", ["1.20", "1.23", "1.24", "1.30"])
@pytest.mark.usefixtures("secret_markers")
def test_every_installer_and_delivery_passes_the_whole_pack(version: str) -> None:
    """The matrix render has an istioOperator and a deploymentPatch gateway: on 1.24+ the
    istioOperator one is rolled by istioctl and only gets a metadata patch (the generations
    record), which is no rollout and has no strategy to judge."""
    from tests.matrix import matrix_config

    config = matrix_config(version)
    if version == "1.30":  # and a Gateway API gateway (installer gatewayApi, Istio 1.26+)
        config["acpw:gateways"].append(
            {"name": "partner-gateway", "namespace": "partner", "installer": "gatewayApi"}
        )
    registrations = render_stack("matrix", config=config).registrations
    run = PackRun(registrations, stack_istio_version=version, config=EXAMPLE_STACKS_CONFIG)
    assert run.violations == []


def _pod_patch(namespace: str = "edge", name: str = "gw") -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"template": {"metadata": {"labels": {"a": "b"}}}},
    }


def _strategy_patch(max_unavailable: Any, namespace: str = "edge") -> dict[str, Any]:
    strategy = {"rollingUpdate": {"maxUnavailable": max_unavailable}}
    return {"metadata": {"namespace": namespace, "name": "gw"}, "spec": {"strategy": strategy}}


def test_a_pod_patch_is_judged_with_the_strategy_patch_of_its_deployment() -> None:
    pods = policy_resource(pack.DEPLOYMENT_PATCH, _pod_patch())
    # On its own the pod-changes patch is no violation of the resource policy ...
    assert check(pack.validate_gateway_rollout, pack.DEPLOYMENT_PATCH, _pod_patch()) == []
    guard = policy_resource(pack.DEPLOYMENT_PATCH, _strategy_patch(0))
    assert _stack_violations(pack.validate_pod_patches_guarded, [pods, guard], {}) == []
    # ... but the stack needs a patch giving that same Deployment maxUnavailable: 0.
    for others in ([], [policy_resource(pack.DEPLOYMENT_PATCH, _strategy_patch(0, "other"))]):
        [(message, urn)] = _stack_violations(pack.validate_pod_patches_guarded, [pods, *others], {})
        assert "edge/gw" in message and "maxUnavailable: 0" in message
        assert urn == pods.urn
    loose = policy_resource(pack.DEPLOYMENT_PATCH, _strategy_patch("25%"))
    assert len(_stack_violations(pack.validate_pod_patches_guarded, [pods, loose], {})) == 1


def test_a_gateway_patch_needs_its_configmap_and_a_guarded_generated_deployment() -> None:
    gateway = policy_resource(
        pack.GATEWAY_PATCH,
        {
            "metadata": {"namespace": "partner", "name": "gw"},
            "spec": {"infrastructure": {"parametersRef": {"name": "gw-acpw-1"}}},
        },
    )
    configmap = policy_resource(
        pack.CONFIG_MAP, {"metadata": {"namespace": "partner", "name": "gw-acpw-1"}}, "cm"
    )
    guard = policy_resource(
        pack.DEPLOYMENT_PATCH,
        {
            "metadata": {"namespace": "partner", "name": "gw-istio"},
            "spec": {"strategy": {"rollingUpdate": {"maxUnavailable": 0}}},
        },
        "guard",
    )
    validate = pack.validate_gateway_patches_guarded
    assert _stack_violations(validate, [gateway, configmap, guard], {}) == []
    [(missing, urn)] = _stack_violations(validate, [gateway, guard], {})
    assert "ConfigMap partner/gw-acpw-1" in missing and urn == gateway.urn
    [(unguarded, _)] = _stack_violations(validate, [gateway, configmap], {})
    assert "partner/gw-istio" in unguarded


def test_a_metadata_only_patch_rolls_nothing_and_is_not_judged() -> None:
    record = {"kind": "Deployment", "metadata": {"annotations": {"a": "b"}}}
    assert check(pack.validate_gateway_rollout, pack.DEPLOYMENT_PATCH, record) == []


def test_public_placeholders_are_the_receivers() -> None:
    from acpw.receiver import PLACEHOLDER_KEYS
    from policy.acpw_policy import PUBLIC_PLACEHOLDERS, plain_credential_problems

    assert PUBLIC_PLACEHOLDERS == PLACEHOLDER_KEYS
    env = {"env": [{"name": "ACPW_AWS_ACCESS_KEY_ID", "value": "AKIAREALLOOKINGKEY00"}]}
    assert plain_credential_problems("kubernetes:apps/v1:DeploymentPatch", env)
    env = {
        "env": [
            {"name": "ACPW_AWS_ACCESS_KEY_ID", "value": PLACEHOLDER_KEYS["ACPW_AWS_ACCESS_KEY_ID"]}
        ]
    }
    assert plain_credential_problems("kubernetes:apps/v1:DeploymentPatch", env) == []

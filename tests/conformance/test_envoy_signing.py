"""Layer 3, Envoy signing: the rendered signed cluster in a real Envoy 1.40, checked by botocore.

``acpw:cloudwatch.signing: envoy`` renders the receiver's own CloudWatch cluster in its bootstrap
override (acpw/receiver.py). The probe receiver sends its own placeholder signature, like
v0.1.0's; the CloudWatch stand-in checks the signature that arrives with botocore's SigV4
signer, for the configured region and host and the credentials Envoy was given (a key with a
session token, from env as the rendered pod gives it).

How far this reaches: here the credentials come from env (the ``accessKey`` render). The keyless
providers, whose credentials also end as a key with a session token, run in
test_envoy_keyless.py: the rendered ``podIdentity`` pod against a Pod Identity agent stand-in
(Envoy takes any ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` host), the rendered ``irsa`` pod against
an STS stand-in reached by name resolution (Envoy's STS endpoint is fixed,
``sts.<region>.amazonaws.com:443``: ``source/extensions/common/aws/utility.cc``
``getSTSEndpoint`` at v1.40.0; envoy_harness/fake_credentials.py has the sources).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from acpw.receiver import PLACEHOLDER_KEYS, monitoring_host, signed_cluster_name
from tests.conformance.renders import Case
from tests.matrix import matrix_config, with_public_images
from tools.render import render_stack

from .envoy_harness.probes import ProbeModules
from .envoy_harness.scenario import Scenario
from .envoy_harness.sigv4 import check_sigv4
from .objects import Obj
from .test_envoy import _MISSING, _get, _start, _wait_calls, probes  # noqa: F401

pytestmark = pytest.mark.skipif(_MISSING is not None, reason=f"real-Envoy layer: {_MISSING}")

KEY_ID = "ASIAACPWENVOYSIGNING"
SECRET = "envoy-signing-conformance-secret"
TOKEN = "envoy-signing-session-token"
SECRETS = {"ACPW_AWS_ACCESS_KEY_ID": KEY_ID, "ACPW_AWS_SECRET_ACCESS_KEY": SECRET}
"""What the key Secret holds (its data keys)."""


def _config(**overrides: Any) -> dict[str, Any]:
    config = matrix_config("1.30", **overrides)
    # Public images: no registry refresher, whose own AWS_* env is not the gateway's.
    config = with_public_images(config)
    return config


def _render(region: str, **overrides: Any) -> Case:
    config = _config(cloudwatch={"region": region, "signing": "envoy"}, **overrides)
    render = render_stack("matrix", config=config)
    return Case(f"envoy-{region}", "1.30", config, render.kubernetes, render.outputs, [])


def _proxy_env(objects: list[Obj]) -> dict[str, str]:
    """The istio-proxy env the render gives the gateway (Secret refs resolved from SECRETS)."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, dict) and str(item.get("name", "")).startswith(
                    ("ACPW_AWS_", "AWS_")
                ):
                    if "value" in item:
                        found[item["name"]] = item["value"]
                    elif "valueFrom" in item:
                        found[item["name"]] = SECRETS[item["valueFrom"]["secretKeyRef"]["key"]]
                walk(item)

    walk(objects)
    return found


@pytest.mark.parametrize("region", ["ap-northeast-1", "eu-west-1"])
def test_envoy_signs_each_call_for_the_region(region: str, probes: ProbeModules) -> None:  # noqa: F811
    case = _render(region)
    env = _proxy_env(case.objects)
    # The receiver gets placeholders; Envoy gets the key from the Secret.
    assert {k: env[k] for k in PLACEHOLDER_KEYS} == PLACEHOLDER_KEYS
    assert env["AWS_ACCESS_KEY_ID"] == KEY_ID and env["AWS_SECRET_ACCESS_KEY"] == SECRET
    env["AWS_SESSION_TOKEN"] = TOKEN  # a key with a session token (STS credentials)
    from tests.conformance.envoy_harness.selection import gateway_workloads

    workload = gateway_workloads(case.objects)[0]
    host = monitoring_host(region)
    with Scenario(case.objects, workload, "1.30", env, probes.sender, probes.receiver) as (
        run,
        fake,
    ):
        run.start()
        _start(run, f"envoy signing in {region}")
        assert signed_cluster_name(region) in run.config.clusters
        status, _ = _get(run, "www.example.com")
        assert status == 200
        _wait_calls(fake, 1)
        calls = fake.snapshot()
        assert len(calls) == 1, f"{len(calls)} calls reached the stand-in\n{run.log_tail()}"
        call = calls[0]
        assert call.sni == host
        assert call.header_values("host") == [host]
        problems = check_sigv4(
            call, access_key=KEY_ID, secret_key=SECRET, session_token=TOKEN, region=region
        )
        assert problems == [], f"{problems}; headers {call.raw_headers}"
        # Exactly one signature arrives, Envoy's: not the receiver's placeholder one.
        (authorization,) = call.header_values("authorization")
        assert "acpwprobemodulesignature" not in authorization
        assert PLACEHOLDER_KEYS["ACPW_AWS_ACCESS_KEY_ID"] not in authorization
        assert len(call.header_values("x-amz-date")) == 1
        assert call.header_values("x-amz-date") != ["20200101T000000Z"]
        # The receiver still ran with its placeholders (it refuses empty ones).
        assert call.headers["x-acpw-access-key-id"] == PLACEHOLDER_KEYS["ACPW_AWS_ACCESS_KEY_ID"]
        # Controls: the checker refuses a wrong secret, region or session token.
        wrong = {"access_key": KEY_ID, "session_token": TOKEN, "region": region}
        assert check_sigv4(call, **{**wrong, "secret_key": "wrong-secret"})
        other = "us-east-1" if region != "us-east-1" else "eu-west-1"
        assert check_sigv4(call, **{**wrong, "secret_key": SECRET, "region": other})
        assert check_sigv4(call, **{**wrong, "secret_key": SECRET, "session_token": "other"})


def test_module_signing_reaches_the_stand_in_unchanged(probes: ProbeModules) -> None:  # noqa: F811
    """Control: without Envoy signing the receiver's own signature is what arrives."""
    case = _render("ap-northeast-1")
    objects = copy.deepcopy(render_stack("matrix", config=_config()).kubernetes)
    from tests.conformance.envoy_harness.selection import gateway_workloads

    workload = gateway_workloads(objects)[0]
    env = _proxy_env(objects)
    assert env == SECRETS
    with Scenario(objects, workload, "1.30", env, probes.sender, probes.receiver) as (run, fake):
        run.start()
        _start(run, "module signing")
        _get(run, "www.example.com")
        _wait_calls(fake, 1)
        (call,) = fake.snapshot()
        assert "acpwprobemodulesignature" in call.headers["authorization"]
        assert check_sigv4(
            call, access_key=KEY_ID, secret_key=SECRET, session_token=None, region="ap-northeast-1"
        )
    assert case.objects != objects

"""Layer 3, keyless Envoy signing: the rendered ``podIdentity`` / ``irsa`` pod in a real Envoy 1.40.

The stack is rendered with ``acpw:iam.credentials: podIdentity`` (or ``irsa``) and
``cloudwatch.signing: envoy``: the gateway's ``istio-proxy`` env carries only the receiver's
placeholders, no key. Envoy gets, in addition, what EKS injects into such a pod: the Pod
Identity webhook's ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and
``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`` (the projected token at its EKS path), or the IRSA
webhook's ``AWS_ROLE_ARN`` (from the rendered ServiceAccount annotation) and
``AWS_WEB_IDENTITY_TOKEN_FILE``, plus ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` /
``AWS_STS_REGIONAL_ENDPOINTS``. The token volumes are laid out as the kubelet writes them. The
credential sources are loopback stand-ins (envoy_harness/fake_credentials.py, which cites the
Envoy v1.40.0 sources):

- Pod Identity: the agent's URI is ``http://127.0.0.1:<port>/v1/credentials`` instead of
  ``http://169.254.170.23/v1/credentials``; Envoy checks no host, so this is the provider's own
  code path.
- IRSA: Envoy's STS endpoint is fixed (``sts.<region>.amazonaws.com:443``, a LOGICAL_DNS
  cluster Envoy adds itself; a bootstrap cluster of its name is not used, tested below); Envoy's
  mount namespace gets an ``/etc/hosts`` naming a loopback address for it, where the STS
  stand-in listens on 443.

Proven: Envoy sends the token (and, for STS, the rendered role ARN); the stand-in's temporary
key and session token sign the call, checked with botocore for the region and host; Envoy
refreshes 60 s before ``Expiration`` with the token the kubelet rotated and signs with the new
credentials; a token the issuer refuses leaves Envoy without credentials and the call arrives
unsigned (``credential_refreshes_failed`` counts it).

How far this reaches: the exchange itself (the agent's and STS's checks, IAM, the role's trust
policy) is the stand-ins', not AWS's; the IRSA route relies on name resolution, and the
certificate is not part of it (Envoy's STS cluster validates none).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from acpw.identity import ROLE_ARN_ANNOTATION
from acpw.receiver import IMDS_DISABLED_ENV, PLACEHOLDER_KEYS, monitoring_host, signed_cluster_name
from tests.conformance.renders import Case
from tests.matrix import matrix_config, with_public_images
from tools.render import render_stack

from .envoy_harness.config import Mount
from .envoy_harness.fake_cloudwatch import FakeCloudWatch
from .envoy_harness.fake_credentials import FakePodIdentityAgent, FakeSts, TemporaryCredentials
from .envoy_harness.probes import ProbeModules
from .envoy_harness.process import EnvoyRun
from .envoy_harness.scenario import Scenario
from .envoy_harness.selection import Workload, gateway_workloads
from .envoy_harness.sigv4 import check_sigv4
from .objects import Obj
from .test_envoy import _MISSING, _get, _start, _wait_calls, probes  # noqa: F401
from .test_envoy_signing import _proxy_env

pytestmark = pytest.mark.skipif(_MISSING is not None, reason=f"real-Envoy layer: {_MISSING}")

OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
IAM = {
    "podIdentity": {"credentials": "podIdentity", "eksClusterName": "prod"},
    "irsa": {"credentials": "irsa", "oidcProviderArn": OIDC},
}
POD_IDENTITY_TOKEN_DIR = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
POD_IDENTITY_TOKEN_FILE = f"{POD_IDENTITY_TOKEN_DIR}/eks-pod-identity-token"
IRSA_TOKEN_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
IRSA_TOKEN_FILE = f"{IRSA_TOKEN_DIR}/token"
STS_LOOPBACK = "127.0.43.1"
"""Where ``sts.<region>.amazonaws.com`` resolves in Envoy's mount namespace (port 443)."""

AGENT_CREDENTIALS = TemporaryCredentials(
    "ASIAACPWPODIDENTITY1", "pod-identity-temporary-secret", "pod-identity-session-token"
)
STS_CREDENTIALS = TemporaryCredentials(
    "ASIAACPWWEBIDENTITY1", "web-identity-temporary-secret", "web-identity-session-token"
)
TOKEN = "eyJhbGciOiJSUzI1NiJ9.acpw-projected-service-account-token.sig"


def _render(mode: str, region: str) -> Case:
    config = matrix_config("1.30", cloudwatch={"region": region, "signing": "envoy"}, iam=IAM[mode])
    config = with_public_images(config)
    render = render_stack("matrix", config=config)
    return Case(f"envoy-{mode}-{region}", "1.30", config, render.kubernetes, render.outputs, [])


def _eks_region_env(region: str) -> dict[str, str]:
    """What both EKS webhooks add besides the credential variables."""
    return {
        "AWS_STS_REGIONAL_ENDPOINTS": "regional",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }


def _keyless_env(objects: list[Obj]) -> dict[str, str]:
    env = _proxy_env(objects)
    # Keyless: the render gives the receiver its placeholders, Envoy no key at all, and no
    # fallback to the node's role.
    assert env == {**PLACEHOLDER_KEYS, IMDS_DISABLED_ENV: "true"}, env
    return env


def _role_arn(objects: list[Obj], workload: Workload) -> str:
    """The role the rendered ServiceAccount of the workload's namespace is annotated with."""
    arns = {
        o["metadata"]["annotations"][ROLE_ARN_ANNOTATION]
        for o in objects
        if o.get("kind") == "ServiceAccount"
        and o["metadata"].get("namespace") == workload.namespace
        and ROLE_ARN_ANNOTATION in o["metadata"].get("annotations", {})
    }
    assert len(arns) == 1, arns
    return arns.pop()


def _token_dir(root: Path, name: str, token: str) -> Path:
    """A projected ServiceAccount token volume as the kubelet writes it: ``<name>`` links to
    ``..data/<name>``, ``..data`` to a timestamped directory (see :func:`_rotate_token`)."""
    directory = root / name
    directory.mkdir(parents=True)
    version = directory / "..2026_12_07_00_00_00.000000001"
    version.mkdir()
    (version / name).write_text(token)
    (directory / "..data").symlink_to(version.name)
    (directory / name).symlink_to(f"..data/{name}")
    return directory


def _rotate_token(directory: Path, name: str, token: str) -> None:
    """The kubelet's token rotation: a new timestamped directory, then ``..data`` renamed onto
    (one atomic ``rename``, what a watched directory sees as a move)."""
    version = directory / "..2026_12_07_00_00_00.000000002"
    version.mkdir()
    (version / name).write_text(token)
    (directory / "..data_tmp").symlink_to(version.name)
    (directory / "..data_tmp").rename(directory / "..data")


def _signed_call(run: EnvoyRun, fake: FakeCloudWatch, what: str) -> Any:
    _start(run, what)
    assert run.config.clusters
    status, _ = _get(run, "www.example.com")
    assert status == 200
    _wait_calls(fake, 1, timeout=15)
    calls = fake.snapshot()
    assert len(calls) == 1, f"{len(calls)} calls reached the stand-in\n{run.log_tail()}"
    return calls[0]


def _assert_signed_with(call: Any, credentials: TemporaryCredentials, region: str) -> None:
    host = monitoring_host(region)
    assert call.sni == host
    assert call.header_values("host") == [host]
    problems = check_sigv4(
        call,
        access_key=credentials.access_key,
        secret_key=credentials.secret_key,
        session_token=credentials.session_token,
        region=region,
    )
    assert problems == [], f"{problems}; headers {call.raw_headers}"
    (authorization,) = call.header_values("authorization")
    assert "acpwprobemodulesignature" not in authorization
    assert PLACEHOLDER_KEYS["ACPW_AWS_ACCESS_KEY_ID"] not in authorization
    # Controls: not the placeholders, not without the session token.
    assert check_sigv4(
        call,
        access_key=credentials.access_key,
        secret_key=PLACEHOLDER_KEYS["ACPW_AWS_SECRET_ACCESS_KEY"],
        session_token=credentials.session_token,
        region=region,
    )
    assert check_sigv4(
        call,
        access_key=credentials.access_key,
        secret_key=credentials.secret_key,
        session_token="other",
        region=region,
    )


def _wait_requests(stub: FakePodIdentityAgent | FakeSts, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(stub.snapshot()) < count:
        time.sleep(0.05)


IMDS_CLUSTER = "ec2_instance_metadata_server_internal"
"""The cluster Envoy's instance-profile provider fetches the node's credentials through."""


def _refreshes(run: EnvoyRun, cluster: str) -> dict[str, int]:
    """Envoy's credential refresh counters of the provider fetching through ``cluster``."""
    prefix = f"aws.metadata_credentials_provider.{cluster}."
    stats = run.stats("^" + re.escape(prefix) + "credential_refreshes_")
    return {name.removeprefix(prefix): value for name, value in stats.items()}


def _assert_outcome(
    run: EnvoyRun,
    call: Any,
    cluster: str,
    credentials: TemporaryCredentials,
    region: str,
    token_matches: bool,
) -> None:
    """Signed with the provider's credentials, or, when it refused the token, sent unsigned."""
    counts = _refreshes(run, cluster)
    if token_matches:
        _assert_signed_with(call, credentials, region)
        assert counts["credential_refreshes_succeeded"] >= 1, counts
        return
    assert counts["credential_refreshes_failed"] >= 1, counts
    assert counts["credential_refreshes_succeeded"] == 0, counts
    # No fallback to the node's role: the rendered AWS_EC2_METADATA_DISABLED leaves the chain
    # without its instance-metadata provider (and so without its cluster).
    assert _refreshes(run, IMDS_CLUSTER) == {}, run.log_tail()
    # Envoy has anonymous credentials and forwards the call unsigned (the receiver's signature
    # was stripped before the signer).
    assert call.header_values("authorization") == [], call.raw_headers
    assert call.header_values("x-amz-security-token") == []
    assert check_sigv4(
        call,
        access_key=credentials.access_key,
        secret_key=credentials.secret_key,
        session_token=credentials.session_token,
        region=region,
    )


REGION = "eu-west-1"


@dataclass
class KeylessPod:
    """A rendered keyless gateway's Envoy (not started) with the env and token volume EKS gives
    its pod, and the stand-in that issues its credentials."""

    run: EnvoyRun
    fake: FakeCloudWatch
    issuer: Any
    """The :class:`FakePodIdentityAgent` or :class:`FakeSts`."""
    tokens: Path
    """The pod's projected token volume (see :func:`_rotate_token`)."""
    issuer_token: Path
    """The token file whose content the issuer accepts."""
    role_arn: str = ""


@contextlib.contextmanager
def _pod_identity_pod(
    tmp_path: Path,
    probes: ProbeModules,  # noqa: F811
    issued: Sequence[TemporaryCredentials],
    pod_token: str = TOKEN,
    lifetime: timedelta | None = None,
) -> Iterator[KeylessPod]:
    case = _render("podIdentity", REGION)
    workload = gateway_workloads(case.objects)[0]
    env = _keyless_env(case.objects)
    agent_token = tmp_path / "agent-expects"
    agent_token.write_text(TOKEN)
    tokens = _token_dir(tmp_path, "eks-pod-identity-token", pod_token)
    extra = {} if lifetime is None else {"lifetime": lifetime}
    with FakePodIdentityAgent(agent_token, issued, **extra) as agent:
        env |= _eks_region_env(REGION) | {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.full_uri,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": POD_IDENTITY_TOKEN_FILE,
        }
        with Scenario(case.objects, workload, "1.30", env, probes.sender, probes.receiver) as (
            run,
            fake,
        ):
            run.config.mounts.append(Mount(target=POD_IDENTITY_TOKEN_DIR, source=tokens))
            yield KeylessPod(run, fake, agent, tokens, agent_token)


@contextlib.contextmanager
def _irsa_pod(
    tmp_path: Path,
    probes: ProbeModules,  # noqa: F811
    issued: Sequence[TemporaryCredentials],
    pod_token: str = TOKEN,
    lifetime: timedelta | None = None,
    route_sts: bool = True,
) -> Iterator[KeylessPod]:
    """``route_sts``: STS's hostname resolves to the stand-in in Envoy's own ``/etc/hosts``."""
    sts_host = f"sts.{REGION}.amazonaws.com"
    case = _render("irsa", REGION)
    workload = gateway_workloads(case.objects)[0]
    env = _keyless_env(case.objects)
    role_arn = _role_arn(case.objects, workload)
    sts_token = tmp_path / "sts-expects"
    sts_token.write_text(TOKEN)
    tokens = _token_dir(tmp_path, "token", pod_token)
    extra = {} if lifetime is None else {"lifetime": lifetime}
    with FakeSts(tmp_path, STS_LOOPBACK, sts_host, sts_token, role_arn, issued, **extra) as sts:
        env |= _eks_region_env(REGION) | {
            "AWS_ROLE_ARN": role_arn,
            "AWS_WEB_IDENTITY_TOKEN_FILE": IRSA_TOKEN_FILE,
        }
        with Scenario(case.objects, workload, "1.30", env, probes.sender, probes.receiver) as (
            run,
            fake,
        ):
            run.config.mounts.append(Mount(target=IRSA_TOKEN_DIR, source=tokens))
            if route_sts:
                hosts = _hosts_file(tmp_path, sts_host)
                run.config.mounts.append(Mount(target="/etc/hosts", source=hosts))
            yield KeylessPod(run, fake, sts, tokens, sts_token, role_arn)


@pytest.mark.parametrize("token_matches", [True, False], ids=["token", "wrong-token"])
def test_pod_identity_credentials_sign_the_call(
    token_matches: bool,
    probes: ProbeModules,  # noqa: F811
    tmp_path: Path,
) -> None:
    region = REGION
    pod_token = TOKEN if token_matches else "a-token-the-agent-did-not-issue"
    with _pod_identity_pod(tmp_path, probes, [AGENT_CREDENTIALS], pod_token) as pod:
        run, fake, agent = pod.run, pod.fake, pod.issuer
        run.start()
        assert signed_cluster_name(region) in run.config.clusters
        _wait_requests(agent, 1, timeout=10)
        call = _signed_call(
            run, fake, f"pod identity ({'right' if token_matches else 'wrong'} token)"
        )
        requests = agent.snapshot()
        assert requests, f"Envoy never asked the agent\n{run.log_tail()}"
        # Envoy sent the token file's content, read from the EKS path, as Authorization.
        assert {r.headers.get("authorization") for r in requests} == {pod_token}
        assert {r.path for r in requests} == {"/v1/credentials"}
        _assert_outcome(
            run,
            call,
            "ecs_task_metadata_server_internal",
            AGENT_CREDENTIALS,
            region,
            token_matches,
        )


def _hosts_file(tmp_path: Path, host: str) -> Path:
    hosts = tmp_path / "hosts"
    shutil.copyfile("/etc/hosts", hosts)
    with hosts.open("a") as out:
        out.write(f"\n{STS_LOOPBACK} {host}\n")
    return hosts


@pytest.mark.parametrize("token_matches", [True, False], ids=["token", "wrong-token"])
def test_irsa_credentials_sign_the_call(
    token_matches: bool,
    probes: ProbeModules,  # noqa: F811
    tmp_path: Path,
) -> None:
    region = REGION
    sts_host = f"sts.{region}.amazonaws.com"
    pod_token = TOKEN if token_matches else "a-token-the-issuer-did-not-sign"
    with _irsa_pod(tmp_path, probes, [STS_CREDENTIALS], pod_token) as pod:
        run, fake, sts, role_arn = pod.run, pod.fake, pod.issuer, pod.role_arn
        run.start()
        _wait_requests(sts, 1, timeout=10)
        call = _signed_call(run, fake, f"irsa ({'right' if token_matches else 'wrong'} token)")
        requests = sts.snapshot()
        assert requests, f"Envoy never asked STS\n{run.log_tail()}"
        queries = [r.query for r in requests]
        assert {q.get("Action") for q in queries} == {"AssumeRoleWithWebIdentity"}
        assert {q.get("RoleArn") for q in queries} == {role_arn}
        assert {q.get("WebIdentityToken") for q in queries} == {pod_token}
        assert all(q.get("RoleSessionName") for q in queries), queries
        assert {r.headers.get("host") for r in requests} == {sts_host}
        # Envoy's STS cluster sends no SNI and accepted a certificate no CA it trusts signed.
        assert {r.sni for r in requests} == {None}
        _assert_outcome(
            run,
            call,
            f"sts_token_service_internal-{region}",
            STS_CREDENTIALS,
            region,
            token_matches,
        )


ROTATED_CREDENTIALS = TemporaryCredentials(
    "ASIAACPWPODIDENTITY2", "pod-identity-rotated-secret", "pod-identity-rotated-token"
)
STS_ROTATED_CREDENTIALS = TemporaryCredentials(
    "ASIAACPWWEBIDENTITY2", "web-identity-rotated-secret", "web-identity-rotated-token"
)
REFRESH_GRACE = 60
"""Seconds before ``Expiration`` Envoy 1.40 refreshes (``metadata_credentials_provider_base.cc``
logs "setting credential refresh to {}, based on credential expiration with grace period";
an expiration already within it logs "Credential expiration time is within grace period 60
seconds, refreshing now. Minimum expiration time should be 900 seconds (15 minutes)" and
refreshes at once, every second)."""
LIFETIME = timedelta(seconds=REFRESH_GRACE + 6)
"""Credentials expiring 6 s past the grace: Envoy refreshes about 6 s after fetching them."""


def _refresh_then_sign(
    pod: KeylessPod,
    token_of: Any,
    credentials: tuple[TemporaryCredentials, TemporaryCredentials],
) -> None:
    """First call signed with the first credentials; the pod's token rotates; Envoy refreshes
    at ``Expiration`` minus the grace with the new token; the next call is signed with the new
    credentials."""
    run, fake, stub, tokens, region = pod.run, pod.fake, pod.issuer, pod.tokens, REGION
    run.start()
    first = _signed_call(run, fake, "refresh")
    _assert_signed_with(first, credentials[0], region)
    assert len(stub.snapshot()) == 1, "refreshed before the expiration's grace"
    rotated = TOKEN + ".rotated"
    # The kubelet rotates the token; the issuer now wants the new one.
    _rotate_token(tokens, tokens.name, rotated)
    pod.issuer_token.write_text(rotated)
    _wait_requests(stub, 2, timeout=20)
    requests = stub.snapshot()
    assert [token_of(r) for r in requests][:2] == [TOKEN, rotated], f"{requests}\n{run.log_tail()}"
    waited = requests[1].at - requests[0].at
    expected = (LIFETIME - timedelta(seconds=REFRESH_GRACE)).total_seconds()
    assert expected - 2 <= waited <= expected + 4, waited
    status, _ = _get(run, "www.example.com")
    assert status == 200
    _wait_calls(fake, 2, timeout=15)
    second = fake.snapshot()[1]
    _assert_signed_with(second, credentials[1], region)


def test_pod_identity_refresh_follows_expiration_and_rereads_the_token(
    probes: ProbeModules,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Envoy refreshes before the agent's ``Expiration`` (ISO 8601) passes, reading the (rotated)
    token file again, and signs the next call with the new credentials."""
    issued = (AGENT_CREDENTIALS, ROTATED_CREDENTIALS)
    with _pod_identity_pod(tmp_path, probes, issued, lifetime=LIFETIME) as pod:
        _refresh_then_sign(pod, lambda r: r.headers.get("authorization"), issued)


def test_irsa_refresh_follows_expiration_and_rereads_the_token(
    probes: ProbeModules,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Envoy asks STS again before the credentials' ``Expiration`` (epoch seconds) passes, with
    the re-read (rotated) token, and signs the next call with the new credentials."""
    issued = (STS_CREDENTIALS, STS_ROTATED_CREDENTIALS)
    with _irsa_pod(tmp_path, probes, issued, lifetime=LIFETIME) as pod:
        _refresh_then_sign(pod, lambda r: r.query.get("WebIdentityToken"), issued)


def test_a_bootstrap_cluster_named_for_sts_does_not_redirect_it(
    probes: ProbeModules,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Control for the ``/etc/hosts`` route: a bootstrap cluster with the STS cluster's name
    (``sts_token_service_internal-<region>``, at the stand-in) is not used. Envoy adds that
    cluster itself (``aws_cluster_manager.cc`` ``addManagedCluster``); with a static one of that
    name already there, the web-identity provider never refreshes, STS gets nothing and the call
    waits for credentials that never come."""
    cluster = f"sts_token_service_internal-{REGION}"
    with _irsa_pod(tmp_path, probes, [STS_CREDENTIALS], route_sts=False) as pod:
        run, fake, sts = pod.run, pod.fake, pod.issuer
        endpoint = {"address": {"socket_address": {"address": STS_LOOPBACK, "port_value": 443}}}
        tls = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
        bootstrap = run.config.bootstrap
        bootstrap.setdefault("static_resources", {}).setdefault("clusters", []).append(
            {
                "name": cluster,
                "type": "STATIC",
                "connect_timeout": "5s",
                "load_assignment": {
                    "cluster_name": cluster,
                    "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}],
                },
                "transport_socket": {
                    "name": "envoy.transport_sockets.tls",
                    "typed_config": {"@type": tls},
                },
            }
        )
        run.bootstrap_path.write_text(json.dumps(bootstrap))
        run.start()
        _start(run, "bootstrap STS cluster")
        status, _ = _get(run, "www.example.com")
        assert status == 200
        time.sleep(4)
        assert sts.snapshot() == []
        assert _refreshes(run, cluster)["credential_refreshes_performed"] == 0
        assert fake.snapshot() == [], "a call arrived without credentials"

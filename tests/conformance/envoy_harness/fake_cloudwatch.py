"""A fake CloudWatch endpoint: HTTPS on loopback with a throw-away CA, recording every call."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conformance.envoy_harness import HarnessError


@dataclass(frozen=True)
class Call:
    sni: str | None
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    raw_headers: tuple[tuple[str, str], ...] = ()
    """Every header line as received (lowercased names), repeats included."""

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.raw_headers if key == name]


def _openssl(args: list[str], cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise HarnessError(f"openssl {' '.join(args)} failed: {result.stderr}")


def make_test_pki(directory: Path, hosts: Iterable[str]) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for hosts: (ca.crt, server.crt, server.key)."""
    directory.mkdir(parents=True, exist_ok=True)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        [
            "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=acpw conformance test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ],
        directory,
    )  # fmt: skip
    _openssl(
        [
            "req",
            *curve,
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=fake-cloudwatch",
        ],
        directory,
    )
    sans = ",".join(f"DNS:{h}" for h in sorted(set(hosts)))
    (directory / "ext.cnf").write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n")
    _openssl(
        [
            "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf",
        ],
        directory,
    )  # fmt: skip
    return directory / "ca.crt", directory / "server.crt", directory / "server.key"


class FakeCloudWatch:
    """HTTPS server on 127.0.0.1 that records every call (SNI, headers, body) and answers 200.

    Its certificate is signed by the test CA and issued for ``hosts``; every failed TLS handshake
    is recorded in ``handshake_errors`` (e.g. the client refused the certificate).
    """

    def __init__(
        self,
        work_dir: Path,
        hosts: Iterable[str],
        respond: Callable[[Call], tuple[int, bytes]] | None = None,
    ) -> None:
        """``respond``: the answer to each call (status, XML body); default 200 and an empty
        PutMetricDataResponse."""
        self.ca_file, cert, key = make_test_pki(work_dir / "pki", hosts)
        self.calls: list[Call] = []
        self.handshake_errors: list[str] = []
        self._lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        sni_by_socket: dict[int, str | None] = {}

        def on_sni(
            sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext
        ) -> None:
            sni_by_socket[id(sock)] = name

        context.sni_callback = on_sni
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0") or 0)
                body = self.rfile.read(length)
                call = Call(
                    sni=sni_by_socket.get(id(self.connection)),
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    raw_headers=tuple((k.lower(), v) for k, v in self.headers.items()),
                )
                with owner._lock:
                    owner.calls.append(call)
                code, reply = (200, b"<PutMetricDataResponse/>")
                if respond is not None:
                    code, reply = respond(call)
                self.send_response(code)
                self.send_header("content-type", "text/xml")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                sock, addr = self.socket.accept()
                sock.settimeout(10)
                try:
                    return context.wrap_socket(sock, server_side=True), addr
                except (ssl.SSLError, OSError) as exc:
                    with owner._lock:
                        owner.handshake_errors.append(str(exc))
                    sock.close()
                    raise

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-cloudwatch", daemon=True
        )
        self._thread.start()

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def handshake_failures(self) -> list[str]:
        with self._lock:
            return list(self.handshake_errors)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeCloudWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

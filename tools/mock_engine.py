"""The Pulumi mock engine used by the offline render and the tests.

Only the cloud and cluster APIs are mocked: the program itself runs for real. Every
registration is recorded with its type, name, inputs, parent and dependencies. Values only
the cloud knows come back as clearly marked ``[unknown: ...]`` placeholders.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs

from acpw.testing import (
    ACCOUNT,
    COMPUTED_OUTPUTS,
    INVOKE_RESULTS,
    REGISTRY_IMAGE_INVOKE,
    AcpwMocks,
    fresh_gateway,
)
from tools import cli_config, pulumi_sdk

__all__ = [
    "ACCOUNT",
    "COMPUTED_OUTPUTS",
    "INVOKE_RESULTS",
    "REGISTRY_IMAGE_INVOKE",
    "fresh_gateway",
]

SECRET_SIG = pulumi_sdk.SECRET_SIG
SIG_KEY = pulumi_sdk.SIG_KEY
DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"
"""The type of every Python dynamic provider resource: none may be in the graph (docs/ARCHITECTURE.md)."""


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


@dataclass
class Registration:
    """One resource registration as the engine saw it."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    custom: bool
    provider: str
    aliases: list[str] = field(default_factory=list)
    """URNs this resource had under earlier names (``aliases`` with a name)."""
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    """``retain_on_delete``: the engine's delete step then leaves the object (for a Patch: no
    relinquish), pulumi/pulumi pkg/resource/deploy/step.go (DeleteStep.Apply)."""
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    """``custom_timeouts`` as given (``create``/``update``/``delete``, e.g. ``"600s"``), only those set."""

    def plain_inputs(self) -> dict[str, Any]:
        """Inputs with secrets unwrapped (for assertions only; never print these)."""
        return unwrap_secrets(self.inputs)


def unwrap_secrets(value: Any) -> Any:
    if is_secret(value):
        return unwrap_secrets(value["value"])
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


class RecordingMocks(AcpwMocks):
    """The component's mocks (:class:`acpw.testing.AcpwMocks`) that also record the invokes, and
    answer as a first preview does when ``preview`` is set."""

    def __init__(
        self, live: dict[str, dict[str, Any]] | None = None, *, preview: bool = False
    ) -> None:
        super().__init__(live)
        self.preview = preview
        self.invokes: list[tuple[str, str]] = []
        """Every invoke: its token and the provider reference it went to ('' = the default)."""
        self.registry_reads: list[str] = []
        """The image references whose digest was read from their registry (getRegistryImage)."""

    def computed(self, args: MockResourceArgs) -> dict[str, Any]:
        values = super().computed(args)
        if self.preview:
            # A first preview: what the cloud computes is not known yet.
            values = {key: pulumi_sdk.UNKNOWN for key in values}
        return values

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.invokes.append((args.token, args.provider or ""))
        if args.token == REGISTRY_IMAGE_INVOKE:
            self.registry_reads.append(str(args.args.get("name", "")))
        return super().call(args)


class RecordingMonitor(pulumi_sdk.MockMonitor):  # type: ignore[misc]
    """A MockMonitor that also keeps each registration's parent and dependencies."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            pulumi_sdk.ensure_event_loop()
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    inputs=pulumi_sdk.deserialize_properties(request.object),
                    parent=request.parent,
                    dependencies=sorted(request.dependencies),
                    custom=bool(request.custom),
                    provider=request.provider,
                    aliases=[
                        self.make_urn(request.parent, request.type, alias.spec.name)
                        for alias in request.aliases
                        if alias.spec.name
                    ],
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    retain_on_delete=bool(request.retainOnDelete),
                    custom_timeouts=_custom_timeouts(request),
                )
            )
        return response


def _custom_timeouts(request: Any) -> dict[str, str]:
    if not request.HasField("customTimeouts"):
        return {}
    timeouts = request.customTimeouts
    return {
        op: getattr(timeouts, op) for op in ("create", "update", "delete") if getattr(timeouts, op)
    }


def config_values(project: str, values: dict[str, Any]) -> dict[str, str]:
    """Encode config the way the CLI hands it to a program: strings, JSON for structured values."""
    return {
        cli_config.full_key(project, key): cli_config.stack_value(value).text
        for key, value in values.items()
    }


_loop: asyncio.AbstractEventLoop | None = None
"""The event loop of the engine installed last (closed by :func:`shutdown`)."""


def install(
    project: str,
    stack: str,
    config: dict[str, str] | None,
    *,
    preview: bool = False,
    logger: logging.Logger | None = None,
    live: dict[str, dict[str, Any]] | None = None,
) -> RecordingMonitor:
    """Point the Pulumi runtime at a fresh recording mock engine with this stack config.

    Each engine gets its own event loop and root stack; ``config=None`` keeps the runtime's config
    (e.g. set from ``PULUMI_CONFIG`` by the language host). Call :func:`shutdown` when done.
    ``live``: what reads of gateway Deployments return (see :class:`RecordingMocks`).
    """
    global _loop
    shutdown()
    _loop = pulumi_sdk.new_event_loop()
    pulumi_sdk.reset_root_resource()
    mocks = RecordingMocks(live, preview=preview)
    monitor = RecordingMonitor(mocks)
    if config is not None:
        pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=preview,
        monitor=monitor,
        logger=logger or logging.getLogger("acpw.render"),
    )
    return monitor


def shutdown() -> None:
    """Close the installed engine's event loop cleanly (no ``BaseEventLoop.__del__`` noise at exit)."""
    global _loop
    if _loop is not None:
        pulumi_sdk.close_event_loop(_loop)
        _loop = None

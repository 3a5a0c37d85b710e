"""Every Pulumi SDK internal that the tools and tests rely on, in one place.

The offline render (``tools/render.py``), its mock engine (``tools/mock_engine.py``), the
language-host harness (``tests/langhost.py``) and the tests need a few parts of the ``pulumi``
package that are private (a leading ``_``) or undocumented module internals. Nothing else imports
them: they are looked up here, by name, from the table :data:`INTERNALS`.

When a Pulumi upgrade renames or removes one, importing this module fails with
:class:`SdkChanged` naming the symbol, and ``tests/test_pulumi_sdk.py`` (the canary) checks each
symbol's presence, call shape and behaviour one by one. ``acpw/config.py`` reads
``pulumi.runtime.config.CONFIG`` (a library module cannot import ``tools``); the canary covers
that use too.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.metadata
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

PULUMI_VERSION = importlib.metadata.version("pulumi")


class SdkChanged(ImportError):
    """A Pulumi SDK internal this project relies on is gone or changed."""


@dataclass(frozen=True)
class Internal:
    """One SDK symbol: where it lives, how this project calls it, and who relies on it."""

    module: str
    name: str
    used_by: str
    call: tuple[Any, ...] | None = None
    """Example positional arguments of the project's calls (checked against the signature)."""

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


INTERNALS: tuple[Internal, ...] = (
    Internal("pulumi.runtime.rpc", "UNKNOWN", "mock_engine: outputs unknown in a preview"),
    Internal("pulumi.runtime.rpc", "_special_sig_key", "mock_engine: recognise wrapped values"),
    Internal("pulumi.runtime.rpc", "_special_secret_sig", "mock_engine: recognise secrets"),
    Internal(
        "pulumi.runtime.rpc",
        "deserialize_properties",
        "mock_engine: decode registered inputs",
        call=(None,),
    ),
    Internal("pulumi.runtime.mocks", "MockMonitor", "mock_engine: the recording monitor's base"),
    Internal(
        "pulumi.runtime.sync_await", "_ensure_event_loop", "mock_engine: loop in gRPC callbacks"
    ),
    Internal(
        "pulumi.runtime.sync_await",
        "_sync_await",
        "render: resolve outputs; acpw/live.py: wait for a read of a live gateway",
        call=(None,),
    ),
    Internal(
        "pulumi.runtime.stack",
        "run_pulumi_func",
        "render, langhost: run the program and wait for its RPCs",
        call=(None,),
    ),
    Internal("pulumi.runtime.settings", "ROOT", "render: a fresh root stack per run"),
    Internal("pulumi.runtime.settings", "SETTINGS", "render: the current mock monitor"),
    Internal("pulumi.runtime.config", "CONFIG", "acpw/config.py, tests: the runtime's config map"),
    Internal(
        "pulumi.dynamic.dynamic",
        "serialize_provider",
        "tests/oci: serialize a dynamic provider as the engine does",
        call=(None,),
    ),
)


def lookup(internal: Internal) -> Any:
    """The SDK object for ``internal``; :class:`SdkChanged` naming it when it is gone."""
    try:
        return getattr(importlib.import_module(internal.module), internal.name)
    except (ImportError, AttributeError) as exc:
        raise SdkChanged(
            f"pulumi {PULUMI_VERSION} has no {internal.qualname} (used by {internal.used_by}): "
            "update tools/pulumi_sdk.py for this SDK version"
        ) from exc


def _get(qualname: str) -> Any:
    return lookup(next(i for i in INTERNALS if i.qualname == qualname))


UNKNOWN: str = _get("pulumi.runtime.rpc.UNKNOWN")
"""The wire value of an output not known yet (a preview of a resource not created yet)."""
SIG_KEY: str = _get("pulumi.runtime.rpc._special_sig_key")
"""Key marking a wrapped value (secret, asset, ...) in the engine's wire format."""
SECRET_SIG: str = _get("pulumi.runtime.rpc._special_secret_sig")
"""Value of :data:`SIG_KEY` for a secret: ``{SIG_KEY: SECRET_SIG, "value": ...}``."""
MockMonitor: type = _get("pulumi.runtime.mocks.MockMonitor")

_deserialize_properties: Callable[[Any], Any] = _get("pulumi.runtime.rpc.deserialize_properties")
_ensure_event_loop: Callable[[], asyncio.AbstractEventLoop] = _get(
    "pulumi.runtime.sync_await._ensure_event_loop"
)
_sync_await: Callable[[Awaitable[Any]], Any] = _get("pulumi.runtime.sync_await._sync_await")
_run_pulumi_func: Callable[[Callable[[], Any]], Awaitable[None]] = _get(
    "pulumi.runtime.stack.run_pulumi_func"
)
_ROOT: Any = _get("pulumi.runtime.settings.ROOT")
_SETTINGS: Any = _get("pulumi.runtime.settings.SETTINGS")
_CONFIG: Any = _get("pulumi.runtime.config.CONFIG")
_serialize_provider: Callable[[Any], str] = _get("pulumi.dynamic.dynamic.serialize_provider")


def deserialize_properties(struct: Any) -> Any:
    """A registration's ``google.protobuf.Struct`` as Python values (secrets stay wrapped)."""
    return _deserialize_properties(struct)


def ensure_event_loop() -> asyncio.AbstractEventLoop:
    """The thread's event loop, created when missing (the mock monitor's gRPC callbacks need one)."""
    return _ensure_event_loop()


def sync_await(awaitable: Awaitable[T]) -> T:
    """Wait for ``awaitable`` on the current loop, also from inside a running callback."""
    result: T = _sync_await(awaitable)
    return result


def run_program(func: Callable[[], Any]) -> None:
    """Run ``func`` as the program, then wait for every RPC it started; its exception is re-raised."""
    sync_await(_run_pulumi_func(func))


def reset_root_resource() -> None:
    """Forget the root stack resource, so that the next ``set_mocks`` creates a fresh one."""
    _ROOT.set(None)


def current_monitor() -> Any:
    """The resource monitor the runtime is configured with (a mock monitor under mocks)."""
    return _SETTINGS.monitor


@contextlib.contextmanager
def empty_runtime_config() -> Iterator[None]:
    """No config in the runtime's map, so that reads fall back to ``PULUMI_CONFIG`` as in the CLI."""
    token = _CONFIG.set({})
    try:
        yield
    finally:
        _CONFIG.reset(token)


def serialize_provider(provider: Any) -> str:
    """A dynamic provider serialized the way the engine stores it (dill, base64)."""
    return _serialize_provider(provider)


_worker_loops: dict[asyncio.AbstractEventLoop, list[asyncio.AbstractEventLoop]] = {}
"""Per loop of :func:`new_event_loop`: the loops its executor threads were given."""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop, set as the thread's current one, with an executor we can clean up.

    The SDK runs monitor calls in the loop's default executor, and the mock monitor then asks for
    an event loop in that worker thread (``_ensure_event_loop``), which would create one nobody
    closes. Each worker gets its loop here instead, and :func:`close_event_loop` closes them.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    workers: list[asyncio.AbstractEventLoop] = []
    lock = threading.Lock()

    def give_the_worker_a_loop() -> None:
        worker_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(worker_loop)
        with lock:
            workers.append(worker_loop)

    loop.set_default_executor(
        ThreadPoolExecutor(thread_name_prefix="asyncio", initializer=give_the_worker_a_loop)
    )
    _worker_loops[loop] = workers
    return loop


def close_event_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Shut the thread's current ``loop`` down the way ``asyncio.run`` does, and unset it.

    Then close the loops of its (now finished) executor threads. Left to the garbage collector,
    a loop may be collected after its self-pipe socket, typically at interpreter exit:
    ``Exception ignored in: <function BaseEventLoop.__del__ ...> ValueError: Invalid file
    descriptor: -1``.
    """
    if loop.is_closed():
        return
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        for worker_loop in _worker_loops.pop(loop, []):
            worker_loop.close()

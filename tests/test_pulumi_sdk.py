"""Canary for the Pulumi SDK internals behind tools/pulumi_sdk.py.

A Pulumi upgrade that renames, removes or reshapes one of them fails here, naming the symbol,
instead of somewhere deep in a render.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
from pathlib import Path

import pulumi
import pytest
from google.protobuf import struct_pb2

from tools import pulumi_sdk
from tools.pulumi_sdk import INTERNALS, Internal, SdkChanged, lookup

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("internal", INTERNALS, ids=[i.qualname for i in INTERNALS])
def test_internal_is_there_with_the_call_shape_we_use(internal: Internal) -> None:
    try:
        obj = lookup(internal)
    except SdkChanged as error:
        pytest.fail(str(error))
    if internal.call is not None:
        try:
            inspect.signature(obj).bind(*internal.call)
        except TypeError as error:
            pytest.fail(
                f"pulumi {pulumi_sdk.PULUMI_VERSION}: {internal.qualname} no longer accepts "
                f"{len(internal.call)} positional argument(s) ({error}); used by {internal.used_by}"
            )


def test_a_missing_internal_is_named() -> None:
    gone = Internal("pulumi.runtime.rpc", "_no_such_symbol", "nothing")
    with pytest.raises(SdkChanged, match=r"has no pulumi\.runtime\.rpc\._no_such_symbol"):
        lookup(gone)


def test_secret_wire_format() -> None:
    """A secret arrives as ``{SIG_KEY: SECRET_SIG, "value": ...}`` (the engine's wire format)."""
    struct = struct_pb2.Struct()
    struct.update({"token": {pulumi_sdk.SIG_KEY: pulumi_sdk.SECRET_SIG, "value": "s3cr3t"}})
    decoded = pulumi_sdk.deserialize_properties(struct)
    assert decoded == {"token": {pulumi_sdk.SIG_KEY: pulumi_sdk.SECRET_SIG, "value": "s3cr3t"}}
    assert pulumi_sdk.SECRET_SIG == "1b47061264138c4ac30d75fd1eb44270"


def test_event_loop_helpers() -> None:
    loop = pulumi_sdk.new_event_loop()
    try:
        assert pulumi_sdk.ensure_event_loop() is loop

        async def answer() -> int:
            await asyncio.sleep(0)
            return 42

        assert pulumi_sdk.sync_await(answer()) == 42
        # the mock monitor asks for a loop in the executor's worker threads
        worker_loop = loop.run_until_complete(
            loop.run_in_executor(None, pulumi_sdk.ensure_event_loop)
        )
        assert worker_loop is not loop and not worker_loop.is_closed()
    finally:
        pulumi_sdk.close_event_loop(loop)
    assert loop.is_closed() and worker_loop.is_closed()
    assert [t.name for t in threading.enumerate() if t.name.startswith("asyncio_")] == []


def test_runtime_config_falls_back_to_pulumi_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """acpw/config.py reads ``pulumi.runtime.config.CONFIG`` and then ``PULUMI_CONFIG``."""
    from pulumi.runtime import config as runtime_config

    monkeypatch.setenv("PULUMI_CONFIG", '{"acpw:x": "from-env"}')
    with pulumi_sdk.empty_runtime_config():
        assert runtime_config.CONFIG.get() == {}
        assert pulumi.Config("acpw").get("x") == "from-env"


def test_serialize_provider_round_trips() -> None:
    import base64

    import dill  # type: ignore[import-untyped]

    from acpw.oci.provider import ImageDigestProvider

    encoded = pulumi_sdk.serialize_provider(ImageDigestProvider())
    assert isinstance(dill.loads(base64.b64decode(encoded)), ImageDigestProvider)


_INTERNAL_IMPORT = re.compile(
    r"(from pulumi\.(runtime\.(rpc|mocks|settings|stack|sync_await|config)|dynamic\.dynamic)\b"
    r"|from pulumi\.runtime import [^\n]*\b(rpc|mocks|settings|stack|sync_await|config)\b"
    r"|\bpulumi[\w.]*\._[a-z]\w*)"
)


def test_only_the_adapter_touches_sdk_internals() -> None:
    allowed = {
        "tools/pulumi_sdk.py",
        "tests/test_pulumi_sdk.py",
        "acpw/config.py",  # the library cannot import tools/; covered by the canary above
    }
    offenders = []
    for path in sorted([*ROOT.glob("tools/**/*.py"), *ROOT.glob("tests/**/*.py")]):
        relative = path.relative_to(ROOT).as_posix()
        if relative in allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _INTERNAL_IMPORT.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == [], "use tools/pulumi_sdk.py instead:\n" + "\n".join(offenders)

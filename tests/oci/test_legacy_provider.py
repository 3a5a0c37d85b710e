"""Upgrading from 0.2.0: the engine can still delete 0.2.0's dynamic image resources.

The state of a 0.2.0 stack holds ``ImagePush``/``ImageDigest`` resources whose provider is pickled
by reference (``acpw.oci.provider.<Class>``). The engine deletes them by running the SDK's dynamic
provider host (``python -m pulumi.dynamic``) in the consuming project's directory and environment,
then calling ``Configure`` and ``Delete`` over gRPC. This test does exactly that, with 0.2.0's
pickles (tests/data/oci-0.2.0-state.json), from a directory outside the repository where only the
installed package (here: PYTHONPATH) makes ``acpw`` importable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from acpw.oci import provider as legacy
from tools import pulumi_sdk

ROOT = Path(__file__).resolve().parents[2]
STATE = json.loads((ROOT / "tests" / "data" / "oci-0.2.0-state.json").read_text())
RESOURCES = {item["class"]: item for item in STATE["resources"]}


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


@pytest.fixture
def host(tmp_path: Path) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """The SDK's dynamic provider host, started as the engine starts it, configured."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PULUMI_CONFIG")
    }
    env["PYTHONPATH"] = str(ROOT)  # the package installed in the consumer's environment
    env["PULUMI_PROJECT"] = "consumer"
    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi.dynamic"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().decode().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        stub.Configure(provider_pb2.ConfigureRequest(args=_struct({})), timeout=30)
        yield stub
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_the_fixture_pickles_name_the_kept_classes() -> None:
    import base64

    for name, item in RESOURCES.items():
        pickled = base64.b64decode(item["properties"]["__provider"])
        assert b"acpw.oci.provider" in pickled and name.encode() in pickled
        # By reference: today's class pickles to the very bytes 0.2.0's did.
        assert (
            pulumi_sdk.serialize_provider(getattr(legacy, name)())
            == item["properties"]["__provider"]
        )


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_a_0_2_0_resource_is_deleted_without_touching_the_registry(
    host: provider_pb2_grpc.ResourceProviderStub, name: str
) -> None:
    item = RESOURCES[name]
    # 0.2.0's ImagePush delete called the registry at 127.0.0.1:9 (closed) and failed there.
    host.Delete(
        provider_pb2.DeleteRequest(
            id=item["id"],
            urn=f"urn:pulumi:dev::consumer::pulumi-python:dynamic:Resource::{name}",
            properties=_struct(item["properties"]),
        ),
        timeout=30,
    )


def test_a_refresh_keeps_the_state(host: provider_pb2_grpc.ResourceProviderStub) -> None:
    item = RESOURCES["ImagePushProvider"]
    response = host.Read(
        provider_pb2.ReadRequest(
            id=item["id"],
            urn="urn:pulumi:dev::consumer::pulumi-python:dynamic:Resource::sender-push",
            properties=_struct(item["properties"]),
        ),
        timeout=30,
    )
    assert response.id == item["id"]
    assert dict(response.properties)["digest"] == item["properties"]["digest"]


def test_creating_one_is_refused_with_a_message(
    host: provider_pb2_grpc.ResourceProviderStub,
) -> None:
    item = RESOURCES["ImageDigestProvider"]
    with pytest.raises(grpc.RpcError) as raised:
        host.Create(
            provider_pb2.CreateRequest(
                urn="urn:pulumi:dev::consumer::pulumi-python:dynamic:Resource::digest",
                properties=_struct(item["properties"]),
            ),
            timeout=30,
        )
    details = raised.value.details() or ""
    assert "ImageDigestProvider" in details
    assert "no longer created or updated" in details
    assert "acpw:images" in details


def test_the_module_imports_nothing_that_0_3_0_removes() -> None:
    """The pickled reference must load even where only the kept module's imports exist."""
    source = (ROOT / "acpw" / "oci" / "provider.py").read_text()
    imports = [
        line.strip()
        for line in source.splitlines()
        if line.startswith(("import ", "from ")) and "__future__" not in line
    ]
    assert imports == [
        "from typing import Any, NoReturn",
        "from pulumi.dynamic import ReadResult, ResourceProvider",
    ]
    assert legacy.KEPT_UNTIL == "0.4.0"

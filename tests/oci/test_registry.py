"""The real provider code against a real registry (Debian's docker-registry on 127.0.0.1).

Source images are built here and written to the registry with our own client (nothing can be
pulled from the internet). Results are read back with a separate client and checked against
Istio's fetcher rules for 1.13 and 1.30.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from acpw.istio_versions import IstioFeatures, IstioVersion
from acpw.oci.client import Connection, Credentials, Reference, RegistryClient
from acpw.oci.errors import (
    DigestMismatch,
    ImageFormatError,
    RegistryAuthError,
    RegistryUnreachable,
)
from acpw.oci.formats import (
    DOCKER_CONFIG,
    DOCKER_LAYER_TAR_GZIP,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER_TAR_GZIP,
    OCI_MANIFEST,
    PLUGIN_FILE,
    RECEIVER_FILE,
    WASM_CONFIG,
    WASM_CONTENT_LAYER,
    Manifest,
    canonical_json,
    check_sender_image,
    check_volume_image,
    gzip_stored,
    read_file_from_layer,
    sha256_digest,
    tar_one_file,
)
from acpw.oci.provider import (
    KIND_COPY,
    KIND_VOLUME_FILE,
    KIND_WASM_FILE,
    ImageDigestProvider,
    ImagePushProvider,
)
from acpw.oci.transfer import ROLE_SENDER, ROLE_TOOL, ROLE_VOLUME
from tests.oci.registry import RunningRegistry, free_port
from tools import pulumi_sdk

V113 = IstioFeatures(IstioVersion(13))
V130 = IstioFeatures(IstioVersion(30))


def wasm_module(marker: str) -> bytes:
    """A valid (empty) core Wasm module with a custom section, so each marker gives new bytes."""
    name = b"acpw"
    payload = bytes([len(name)]) + name + marker.encode()
    return b"\0asm\x01\x00\x00\x00" + bytes([0, len(payload)]) + payload


def connection(registry: RunningRegistry, *, password: str | None = None) -> Connection:
    credentials = None
    if registry.username:
        credentials = Credentials(registry.username, password or registry.password or "")
    return Connection(
        credentials=credentials,
        plain_http=registry.plain_http,
        ca_file=str(registry.ca_file) if registry.ca_file else None,
        backoff=0.05,
    )


def client(registry: RunningRegistry, repository: str) -> RegistryClient:
    return RegistryClient(registry.host, repository, connection(registry))


def put_image(
    registry: RunningRegistry,
    repository: str,
    tag: str,
    layers: list[bytes],
    *,
    docker: bool,
    workdir: str | None = None,
) -> str:
    """Write a source image (tar.gz layers) with our client; returns its manifest digest."""
    target = client(registry, repository)
    diff_ids = []
    descriptors = []
    for tar in layers:
        layer = gzip_stored(tar)
        target.push_blob(layer)
        diff_ids.append(sha256_digest(tar))
        descriptors.append(
            {
                "mediaType": DOCKER_LAYER_TAR_GZIP if docker else OCI_LAYER_TAR_GZIP,
                "digest": sha256_digest(layer),
                "size": len(layer),
            }
        )
    config: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {"WorkingDir": workdir} if workdir else {},
    }
    config_bytes = canonical_json(config)
    target.push_blob(config_bytes)
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": sha256_digest(config_bytes),
            "size": len(config_bytes),
        },
        "layers": descriptors,
    }
    return target.put_manifest(Manifest(json.dumps(manifest, indent=3).encode(), media_type), tag)


def props_for(registry: RunningRegistry, **values: Any) -> dict[str, Any]:
    credentials = (
        {"username": registry.username, "password": registry.password}
        if registry.username
        else None
    )
    return {
        "role": ROLE_SENDER,
        "istio_version": "1.30",
        "source_credentials": credentials,
        "target_credentials": credentials,
        "plain_http": [registry.host] if registry.plain_http else [],
        "ca_pem": registry.ca_file.read_text() if registry.ca_file else None,
        "attempts": 2,
        **values,
    }


def read_back(registry: RunningRegistry, repository: str, digest: str) -> tuple[Manifest, Any]:
    reader = client(registry, repository)
    return reader.get_manifest(digest), reader.get_blob


@pytest.fixture(params=["plain", "tls+auth"])
def registry(
    request: pytest.FixtureRequest,
    plain_registry: RunningRegistry,
    secure_registry: RunningRegistry,
) -> RunningRegistry:
    return plain_registry if request.param == "plain" else secure_registry


def test_copy_image_update_no_change_and_delete(registry: RunningRegistry, tmp_path: Path) -> None:
    provider: Any = ImagePushProvider()
    source_digest = put_image(
        registry,
        "src/oci-sender",
        "v1",
        [tar_one_file(PLUGIN_FILE, wasm_module("one"))],
        docker=True,
    )
    props = props_for(
        registry,
        kind=KIND_COPY,
        source=f"{registry.host}/src/oci-sender:v1",
        target=f"{registry.host}/copy/sender",
    )
    created = provider.create(props)
    outs = created.outs
    # A copy keeps the manifest bytes: same digest, and that is what the WasmPlugin gets.
    assert outs["digest"] == source_digest
    assert outs["pushed"] is True
    assert outs["tag"] == f"v1-{source_digest.removeprefix('sha256:')[:12]}"
    manifest, get_blob = read_back(registry, "copy/sender", source_digest)
    assert manifest.media_type == DOCKER_MANIFEST
    assert check_sender_image(manifest, get_blob, V113, "copy").startswith("Docker image, 1 layer")
    assert check_sender_image(manifest, get_blob, V130, "copy").startswith("Docker image, 1 layer")

    # No change: diff says so (the source tag was looked up), and a repeated push uploads nothing.
    assert provider.diff(created.id, outs, props).changes is False
    again = provider.create(props)
    assert again.outs["pushed"] is False and again.outs["digest"] == source_digest

    # The source tag moves: diff notices it, update copies the new image; the old one stays.
    moved = put_image(
        registry,
        "src/oci-sender",
        "v1",
        [tar_one_file(PLUGIN_FILE, wasm_module("two"))],
        docker=True,
    )
    assert provider.diff(created.id, outs, props).changes is True
    updated = provider.update(created.id, outs, props).outs
    assert updated["digest"] == moved and updated["pushed"] is True
    reader = client(registry, "copy/sender")
    assert reader.manifest_digest(source_digest) == source_digest
    assert sorted(reader.tags()) == sorted([outs["tag"], updated["tag"]])

    provider.delete(created.id, updated)
    assert reader.manifest_digest(moved) is None
    assert reader.manifest_digest(updated["tag"]) is None
    provider.delete(created.id, updated)  # already gone: not an error


@pytest.mark.parametrize(
    ("wasm_format", "version", "layer_types"),
    [
        ("artifact", "1.30", [WASM_CONFIG, WASM_CONTENT_LAYER]),
        ("compat", "1.13", [OCI_LAYER_TAR_GZIP]),
    ],
)
def test_push_local_wasm_both_formats(
    registry: RunningRegistry,
    tmp_path: Path,
    wasm_format: str,
    version: str,
    layer_types: list[str],
) -> None:
    provider: Any = ImagePushProvider()
    wasm = wasm_module(f"local-{wasm_format}")
    path = tmp_path / "sender.wasm"
    path.write_bytes(wasm)
    from acpw.images import local_file_digest

    expected = local_file_digest(str(path), wasm_format)
    repository = f"local/{wasm_format}"
    props = props_for(
        registry,
        kind=KIND_WASM_FILE,
        source=str(path),
        wasm_format=wasm_format,
        istio_version=version,
        expected_digest=expected,
        target=f"{registry.host}/{repository}",
    )
    assert provider.check({}, props).failures == []
    created = provider.create(props)
    assert created.outs["digest"] == expected  # computed before pushing = pushed digest

    manifest, get_blob = read_back(registry, repository, expected)
    parsed = manifest.parsed()
    assert [layer["mediaType"] for layer in parsed["layers"]] == layer_types
    for features in (V113, V130):
        check_sender_image(manifest, get_blob, features, repository)
    if wasm_format == "artifact":
        wasm_layer = parsed["layers"][1]
        assert get_blob(wasm_layer["digest"]) == wasm  # the raw module, byte for byte
    else:
        layer = get_blob(parsed["layers"][0]["digest"])
        assert read_file_from_layer(layer, lambda name: name == PLUGIN_FILE, "layer") == wasm

    # Same file again: no change, nothing pushed. A changed file: update with a new digest.
    assert provider.diff(created.id, created.outs, props).changes is False
    assert provider.create(props).outs["pushed"] is False
    path.write_bytes(wasm_module("changed"))
    new_expected = local_file_digest(str(path), wasm_format)
    news = {**props, "expected_digest": new_expected}
    assert provider.diff(created.id, created.outs, news).changes is True
    updated = provider.update(created.id, created.outs, news).outs
    assert updated["digest"] == new_expected != expected
    provider.delete(created.id, updated)
    assert client(registry, repository).manifest_digest(new_expected) is None


def test_receiver_volume_from_local_file(registry: RunningRegistry, tmp_path: Path) -> None:
    base = put_image(
        registry,
        "src/volume",
        "v1",
        [tar_one_file("bin/cp", b"#!fake cp\n"), tar_one_file(RECEIVER_FILE, wasm_module("old"))],
        docker=False,
        workdir="/",
    )
    receiver = wasm_module("new receiver")
    path = tmp_path / "receiver.wasm"
    path.write_bytes(receiver)
    provider: Any = ImagePushProvider()
    props = props_for(
        registry,
        kind=KIND_VOLUME_FILE,
        role=ROLE_VOLUME,
        source=str(path),
        base=f"{registry.host}/src/volume:v1",
        target=f"{registry.host}/local/volume",
    )
    outs = provider.create(props).outs
    assert outs["source_digest"] == base
    manifest, get_blob = read_back(registry, "local/volume", outs["digest"])
    layers = manifest.parsed()["layers"]
    assert len(layers) == 3  # the base's layers plus receiver.wasm on top
    config = get_blob(manifest.parsed()["config"]["digest"])
    assert check_volume_image(manifest, config, get_blob, "volume") == f"/{RECEIVER_FILE}"
    top = read_file_from_layer(get_blob(layers[-1]["digest"]), lambda n: n == RECEIVER_FILE, "top")
    assert top == receiver
    assert json.loads(config)["rootfs"]["diff_ids"][-1] == sha256_digest(
        tar_one_file(RECEIVER_FILE, receiver)
    )


def test_digest_resolver_pins_and_notices_moved_tag(registry: RunningRegistry) -> None:
    first = put_image(
        registry, "src/resolve", "v1", [tar_one_file(PLUGIN_FILE, wasm_module("r1"))], docker=True
    )
    provider: Any = ImageDigestProvider()
    props = props_for(
        registry,
        source=f"{registry.host}/src/resolve:v1",
        credentials=props_for(registry)["source_credentials"],
        istio_version="1.13",
    )
    outs = provider.create(props).outs
    assert outs["digest"] == first
    assert provider.diff("id", outs, props).changes is False
    second = put_image(
        registry, "src/resolve", "v1", [tar_one_file(PLUGIN_FILE, wasm_module("r2"))], docker=True
    )
    assert provider.diff("id", outs, props).changes is True
    assert provider.update("id", outs, props).outs["digest"] == second
    # Pinned to a digest that the tag no longer has: still resolves (by digest), no registry diff.
    pinned = {**props, "expected_digest": first}
    assert provider.create(pinned).outs["digest"] == first


def test_not_a_wasm_file_is_refused_before_any_push(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "sender.wasm"
    path.write_bytes(b"\x7fELF\x02\x01\x01 not wasm")
    provider: Any = ImagePushProvider()
    props = props_for(
        registry,
        kind=KIND_WASM_FILE,
        source=str(path),
        wasm_format="artifact",
        target=f"{registry.host}/bad/notwasm",
    )
    failures = provider.check({}, props).failures
    assert len(failures) == 1 and "not a WebAssembly module" in failures[0].reason
    with pytest.raises(ImageFormatError, match="not a WebAssembly module"):
        provider.create(props)
    assert client(registry, "bad/notwasm").tags() == []


def test_multi_layer_source_refused_for_istio_1_13_only(registry: RunningRegistry) -> None:
    put_image(
        registry,
        "src/two-layers",
        "v1",
        [tar_one_file("etc/motd", b"hello"), tar_one_file(PLUGIN_FILE, wasm_module("two"))],
        docker=True,
    )
    provider: Any = ImagePushProvider()
    props = props_for(
        registry,
        kind=KIND_COPY,
        source=f"{registry.host}/src/two-layers:v1",
        target=f"{registry.host}/bad/two-layers",
        istio_version="1.13",
    )
    with pytest.raises(ImageFormatError, match="number of layers must be 1 but got 2"):
        provider.create(props)
    target = client(registry, "bad/two-layers")
    assert target.tags() == []  # nothing pushed, nothing recorded
    # 1.16+ uses the last layer: the same image qualifies.
    outs = provider.create({**props, "istio_version": "1.30"}).outs
    assert outs["pushed"] is True and target.tags() == [outs["tag"]]


def test_pinned_digest_mismatch_is_refused(registry: RunningRegistry) -> None:
    put_image(registry, "src/pin", "v1", [tar_one_file(PLUGIN_FILE, wasm_module("p"))], docker=True)
    provider: Any = ImagePushProvider()
    props = props_for(
        registry,
        kind=KIND_COPY,
        source=f"{registry.host}/src/pin:v1",
        expected_digest="sha256:" + "0" * 64,
        target=f"{registry.host}/bad/pin",
    )
    with pytest.raises(DigestMismatch, match="not the pinned"):
        provider.create(props)
    assert client(registry, "bad/pin").tags() == []


def test_tool_image_is_copied_as_it_is_and_pinned(registry: RunningRegistry) -> None:
    """kubectl / AWS CLI (``images.copyToolImages``): no Wasm rules, the digest is kept and checked."""
    source = put_image(
        registry, "src/kubectl", "v1.33.0", [tar_one_file("bin/kubectl", b"\x7fELF")], docker=False
    )
    provider: Any = ImagePushProvider()
    props = props_for(
        registry,
        kind=KIND_COPY,
        role=ROLE_TOOL,
        source=f"{registry.host}/src/kubectl:v1.33.0@{source}",
        expected_digest=source,
        target=f"{registry.host}/copy/kubectl",
    )
    outs = provider.create(props).outs
    assert outs["digest"] == source and outs["pushed"] is True
    assert client(registry, "copy/kubectl").manifest_digest(source) == source
    # The same content under a Wasm role would be refused: the tool role checks no format.
    with pytest.raises(ImageFormatError):
        provider.create({**props, "role": ROLE_SENDER, "target": f"{registry.host}/copy/other"})
    wrong = {
        **props,
        "expected_digest": "sha256:" + "0" * 64,
        "source": f"{registry.host}/src/kubectl:v1.33.0",
    }
    with pytest.raises(DigestMismatch, match="not the pinned"):
        provider.create({**wrong, "target": f"{registry.host}/copy/wrong"})


def test_unreachable_registry(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    provider: Any = ImagePushProvider()
    props = {
        "kind": KIND_COPY,
        "source": f"127.0.0.1:{port}/src/x:v1",
        "target": f"127.0.0.1:{port}/dst/x",
        "role": ROLE_SENDER,
        "istio_version": "1.30",
        "plain_http": [f"127.0.0.1:{port}"],
        "attempts": 2,
    }
    with pytest.raises(RegistryUnreachable, match=rf"cannot reach registry 127.0.0.1:{port}"):
        provider.create(props)


def test_wrong_credentials_clear_error_and_nothing_pushed(
    secure_registry: RunningRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "sender.wasm"
    path.write_bytes(wasm_module("auth"))
    provider: Any = ImagePushProvider()
    wrong = "not-the-password-" + "x" * 8
    props = props_for(
        secure_registry,
        kind=KIND_WASM_FILE,
        source=str(path),
        wasm_format="compat",
        target=f"{secure_registry.host}/auth/sender",
        target_credentials={"username": secure_registry.username, "password": wrong},
    )
    with pytest.raises(RegistryAuthError, match="refused the credentials") as caught:
        provider.create(props)
    assert wrong not in str(caught.value)
    assert str(secure_registry.password) not in str(caught.value)
    with pytest.raises(RegistryAuthError, match="requires credentials"):
        provider.create({**props, "target_credentials": None})
    assert client(secure_registry, "auth/sender").tags() == []
    # And a copy with the right credentials but without the CA is a TLS error, not a hang.
    with pytest.raises(RegistryUnreachable, match="TLS"):
        provider.create(
            {
                **props,
                "target_credentials": props_for(secure_registry)["target_credentials"],
                "ca_pem": None,
            }
        )


def test_reference_parsing() -> None:
    ref = Reference.parse("oci://ghcr.io/hatappi/aws-cloudwatch-proxy-wasm/oci-sender:v0.1.0")
    assert (ref.registry, ref.repository, ref.tag) == (
        "ghcr.io",
        "hatappi/aws-cloudwatch-proxy-wasm/oci-sender",
        "v0.1.0",
    )
    local = Reference.parse("127.0.0.1:5000/a/b@sha256:" + "a" * 64)
    assert (local.registry, local.repository, local.tag) == ("127.0.0.1:5000", "a/b", None)
    assert local.reference == "sha256:" + "a" * 64
    assert Reference.parse("alpine:3").repository_url == "registry-1.docker.io/library/alpine"


_PROVIDER_HOST = """
import base64, json, sys
import dill
provider = dill.loads(base64.b64decode(sys.argv[1]))
print(json.dumps(provider.create(json.loads(sys.stdin.read())).outs["digest"]))
"""


@pytest.mark.parametrize("provider_class", [ImageDigestProvider, ImagePushProvider])
def test_providers_survive_pulumi_serialization_into_a_fresh_process(
    plain_registry: RunningRegistry, tmp_path: Path, provider_class: type
) -> None:
    """Pulumi pickles a dynamic provider with dill and runs it in another Python process started
    from the project directory; the unpickled provider must work there against a registry."""
    digest = put_image(
        plain_registry,
        "src/serialized",
        "v1",
        [tar_one_file(PLUGIN_FILE, wasm_module("s"))],
        docker=True,
    )
    source = f"{plain_registry.host}/src/serialized:v1"
    if provider_class is ImageDigestProvider:
        props = props_for(plain_registry, source=source, credentials=None, istio_version="1.13")
    else:
        props = props_for(
            plain_registry,
            kind="copy",
            source=source,
            target=f"{plain_registry.host}/dst/serialized",
        )
    encoded = pulumi_sdk.serialize_provider(provider_class())
    result = subprocess.run(
        [sys.executable, "-c", _PROVIDER_HOST, encoded],
        input=json.dumps(props),
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == digest

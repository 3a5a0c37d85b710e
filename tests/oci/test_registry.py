"""The publish CLI and the OCI code against a real registry (Debian's docker-registry on 127.0.0.1).

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
from acpw.oci import publish as publish_images
from acpw.oci.client import Connection, Credentials, Reference, RegistryClient
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
from tests.oci.registry import RunningRegistry, free_port

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


def publish(
    registry: RunningRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    password: str | None = None,
) -> tuple[int, dict[str, str], str]:
    """Run ``python -m tools.publish_images`` against the registry; (exit code, printed pins, stderr)."""
    if registry.username:
        monkeypatch.setenv("ACPW_REGISTRY_USERNAME", registry.username)
        monkeypatch.setenv("ACPW_REGISTRY_PASSWORD", password or registry.password or "")
    extra = []
    if registry.plain_http:
        extra += ["--plain-http", registry.host]
    if registry.ca_file:
        extra += ["--ca-file", str(registry.ca_file)]
    code = publish_images.main([*args, *extra])
    out, err = capsys.readouterr()
    pins = dict(line.split(": ", 1) for line in out.splitlines() if line.startswith("acpw:"))
    return code, pins, err


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


@pytest.mark.parametrize(
    ("version", "layer_types"),
    [("1.30", [WASM_CONFIG, WASM_CONTENT_LAYER]), ("1.13", [OCI_LAYER_TAR_GZIP])],
)
def test_publish_a_local_sender_in_the_format_istio_fetches(
    registry: RunningRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    version: str,
    layer_types: list[str],
) -> None:
    wasm = wasm_module(f"local-{version}")
    path = tmp_path / "sender.wasm"
    path.write_bytes(wasm)
    repository = f"local/sender-{version}"
    code, pins, err = publish(
        registry, monkeypatch, capsys, "sender", str(path), "--to",
        f"{registry.host}/{repository}", "--istio-version", version,
    )  # fmt: skip
    assert code == 0, err
    digest = pins["acpw:images.senderDigest"]
    assert pins["acpw:images.sender"].startswith(f"oci://{registry.host}/{repository}:wasm-")
    manifest, get_blob = read_back(registry, repository, digest)
    parsed = manifest.parsed()
    assert [layer["mediaType"] for layer in parsed["layers"]] == layer_types
    for features in (V113, V130):
        check_sender_image(manifest, get_blob, features, repository)
    if version == "1.30":
        assert get_blob(parsed["layers"][1]["digest"]) == wasm  # the raw module, byte for byte
    else:
        layer = get_blob(parsed["layers"][0]["digest"])
        assert read_file_from_layer(layer, lambda name: name == PLUGIN_FILE, "layer") == wasm
    # The same file again: the same digest (the pin is reproducible).
    again = publish(
        registry, monkeypatch, capsys, "sender", str(path), "--to",
        f"{registry.host}/{repository}", "--istio-version", version,
    )  # fmt: skip
    assert again[1]["acpw:images.senderDigest"] == digest


def test_publish_a_receiver_volume_from_a_local_file(
    registry: RunningRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    put_image(
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
    code, pins, err = publish(
        registry, monkeypatch, capsys, "receiver", str(path), "--to",
        f"{registry.host}/local/volume", "--base", f"{registry.host}/src/volume:v1",
        "--istio-version", "1.30",
    )  # fmt: skip
    assert code == 0, err
    manifest, get_blob = read_back(
        registry, "local/volume", pins["acpw:images.receiverVolumeDigest"]
    )
    layers = manifest.parsed()["layers"]
    assert len(layers) == 3  # the base's layers plus receiver.wasm on top
    config = get_blob(manifest.parsed()["config"]["digest"])
    assert check_volume_image(manifest, config, get_blob, "volume") == f"/{RECEIVER_FILE}"
    top = read_file_from_layer(get_blob(layers[-1]["digest"]), lambda n: n == RECEIVER_FILE, "top")
    assert top == receiver
    assert json.loads(config)["rootfs"]["diff_ids"][-1] == sha256_digest(
        tar_one_file(RECEIVER_FILE, receiver)
    )


def test_check_prints_the_digest_a_tag_points_to_now(
    registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = put_image(
        registry, "src/resolve", "v1", [tar_one_file(PLUGIN_FILE, wasm_module("r1"))], docker=True
    )
    image = f"oci://{registry.host}/src/resolve:v1"
    check = ("check", "sender", image, "--istio-version", "1.13")
    code, pins, err = publish(registry, monkeypatch, capsys, *check)
    assert code == 0, err
    assert pins == {"acpw:images.sender": image, "acpw:images.senderDigest": first}
    second = put_image(
        registry, "src/resolve", "v1", [tar_one_file(PLUGIN_FILE, wasm_module("r2"))], docker=True
    )
    assert publish(registry, monkeypatch, capsys, *check)[1]["acpw:images.senderDigest"] == second


def test_check_applies_istio_fetcher_rules_per_version(
    registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What 0.2.0's ImageDigest checked at deploy time: 1.13 takes one layer, 1.16+ the last."""
    put_image(
        registry,
        "src/two-layers",
        "v1",
        [tar_one_file("etc/motd", b"hello"), tar_one_file(PLUGIN_FILE, wasm_module("two"))],
        docker=True,
    )
    image = f"oci://{registry.host}/src/two-layers:v1"
    code, pins, err = publish(
        registry, monkeypatch, capsys, "check", "sender", image, "--istio-version", "1.13"
    )
    assert code == 1 and not pins
    assert "number of layers must be 1 but got 2" in err
    code, pins, err = publish(
        registry, monkeypatch, capsys, "check", "sender", image, "--istio-version", "1.30"
    )
    assert code == 0, err


def test_not_a_wasm_file_is_refused_before_any_push(
    registry: RunningRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "sender.wasm"
    path.write_bytes(b"\x7fELF\x02\x01\x01 not wasm")
    code, pins, err = publish(
        registry, monkeypatch, capsys, "sender", str(path), "--to",
        f"{registry.host}/bad/notwasm", "--istio-version", "1.30",
    )  # fmt: skip
    assert code == 1 and not pins and "not a WebAssembly module" in err
    assert client(registry, "bad/notwasm").tags() == []


def test_unreachable_registry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    host = f"127.0.0.1:{port}"
    code = publish_images.main(
        ["check", "sender", f"{host}/src/x:v1", "--istio-version", "1.30", "--plain-http", host]
    )
    assert code == 1
    assert f"cannot reach registry {host}" in capsys.readouterr().err


def test_wrong_credentials_clear_error_and_nothing_pushed(
    secure_registry: RunningRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "sender.wasm"
    path.write_bytes(wasm_module("auth"))
    wrong = "not-the-password-" + "x" * 8
    push = (
        "sender", str(path), "--to", f"{secure_registry.host}/auth/sender",
        "--istio-version", "1.13",
    )  # fmt: skip
    code, _, err = publish(secure_registry, monkeypatch, capsys, *push, password=wrong)
    assert code == 1 and "refused the credentials" in err
    assert wrong not in err and str(secure_registry.password) not in err
    assert client(secure_registry, "auth/sender").tags() == []


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


@pytest.mark.parametrize("module", ["acpw.oci.publish", "tools.publish_images"])
def test_the_cli_runs_as_a_module(module: str) -> None:
    """Installed as a package (``acpw.oci.publish``) and in a checkout (``make publish-images``)."""
    result = subprocess.run(
        [sys.executable, "-m", module, "check", "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--istio-version" in result.stdout

"""Pure format rules: the Wasm check, deterministic builders and Istio's fetcher rules."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from acpw.istio_versions import IstioFeatures, IstioVersion
from acpw.oci.errors import ImageFormatError
from acpw.oci.formats import (
    RECEIVER_FILE,
    Manifest,
    build_compat_image,
    build_wasm_artifact,
    canonical_json,
    check_sender_image,
    check_volume_image,
    check_wasm_module,
    gzip_stored,
    sha256_digest,
    wasm_format_for,
)

WASM = b"\0asm\x01\x00\x00\x00\x00\x05\x04acpw"


def test_wasm_check() -> None:
    check_wasm_module(WASM, "x")
    with pytest.raises(ImageFormatError, match="not a WebAssembly module"):
        check_wasm_module(b"PK\x03\x04 zip file", "sender.wasm")
    with pytest.raises(ImageFormatError, match="component"):
        check_wasm_module(b"\0asm\x0d\x00\x01\x00", "component.wasm")
    with pytest.raises(ImageFormatError, match="not a WebAssembly module"):
        check_wasm_module(b"", "empty.wasm")


def test_gzip_stored_is_valid_and_deterministic() -> None:
    data = bytes(range(256)) * 700  # > 64 KiB: several stored blocks
    assert gzip.decompress(gzip_stored(data)) == data
    assert gzip.decompress(gzip_stored(b"")) == b""
    assert gzip_stored(data) == gzip_stored(bytes(data))


def test_builders_are_deterministic() -> None:
    assert build_wasm_artifact(WASM).digest == build_wasm_artifact(bytes(WASM)).digest
    assert build_compat_image(WASM).digest == build_compat_image(bytes(WASM)).digest
    assert build_compat_image(WASM).digest != build_wasm_artifact(WASM).digest


@pytest.mark.parametrize("minor", [13, 15, 16, 30])
def test_built_images_pass_fetcher_rules(minor: int) -> None:
    features = IstioFeatures(IstioVersion(minor))
    for image in (build_wasm_artifact(WASM), build_compat_image(WASM)):
        check_sender_image(image.manifest, image.blobs.__getitem__, features, "built")


def test_format_choice_per_version() -> None:
    assert wasm_format_for(IstioFeatures(IstioVersion(13))) == "compat"
    assert wasm_format_for(IstioFeatures(IstioVersion(15, 2))) == "compat"
    assert wasm_format_for(IstioFeatures(IstioVersion(16))) == "artifact"


def test_artifact_with_three_layers_is_refused() -> None:
    image = build_wasm_artifact(WASM)
    manifest = image.manifest.parsed()
    manifest["layers"].append(manifest["layers"][0])
    from acpw.oci.formats import OCI_MANIFEST, Manifest

    broken = Manifest(canonical_json(manifest), OCI_MANIFEST)
    with pytest.raises(ImageFormatError, match="exactly 2"):
        check_sender_image(broken, image.blobs.__getitem__, IstioFeatures(IstioVersion(30)), "x")


def _volume_image(mode: int) -> tuple[Manifest, bytes, dict[str, bytes]]:
    """A one-layer volume image whose working directory / holds receiver.wasm with ``mode``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo(RECEIVER_FILE)
        info.size, info.mode = len(WASM), mode
        archive.addfile(info, io.BytesIO(WASM))
    layer = buffer.getvalue()
    config = canonical_json({"config": {"WorkingDir": "/"}})
    blobs = {sha256_digest(layer): layer, sha256_digest(config): config}
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256_digest(layer),
                    "size": len(layer),
                }
            ],
        }
    )
    return Manifest(manifest, "application/vnd.oci.image.manifest.v1+json"), config, blobs


def test_volume_image_receiver_must_be_readable_by_the_non_root_init_container() -> None:
    # The init container runs as UID 65532, not as the file's owner: it needs o+r.
    manifest, config, blobs = _volume_image(0o644)
    assert check_volume_image(manifest, config, blobs.__getitem__, "v") == "/receiver.wasm"
    manifest, config, blobs = _volume_image(0o600)
    with pytest.raises(ImageFormatError, match=r"mode 0600: the init container runs as a non-root"):
        check_volume_image(manifest, config, blobs.__getitem__, "v")

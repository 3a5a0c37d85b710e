"""Image formats: media types, the Wasm module check, deterministic builders and Istio's fetcher rules.

Everything here is pure Python without I/O, so that the component can compute the manifest digest
of an image built from a local file before anything is pushed (the same bytes are pushed later).

Istio's Wasm fetcher (``pkg/wasm/imagefetcher.go``, see ../shared/ISTIO-VERSIONS.md) accepts:

- a Docker image (manifest ``application/vnd.docker.distribution.manifest.v2+json``) whose layer
  ``application/vnd.docker.image.rootfs.diff.tar.gzip`` is a tar.gz holding a file ``plugin.wasm``;
- an OCI image whose layer ``application/vnd.oci.image.layer.v1.tar+gzip`` holds ``plugin.wasm``;
- an OCI Wasm artifact: exactly two layers, ``application/vnd.module.wasm.content.layer.v1+wasm``
  (the raw module) and ``application/vnd.module.wasm.config.v1+json``.

Istio 1.13 - 1.15 accept a Docker/OCI image only with exactly one layer; from 1.16 the last layer
is used.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import struct
import tarfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from acpw.istio_versions import IstioFeatures
from acpw.oci.errors import ImageFormatError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
WASM_CONTENT_LAYER = "application/vnd.module.wasm.content.layer.v1+wasm"
WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"

IMAGE_MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_MANIFESTS = (OCI_INDEX, DOCKER_MANIFEST_LIST)
ACCEPTED_MANIFESTS = (*IMAGE_MANIFESTS, *INDEX_MANIFESTS)

ANNOTATION_TITLE = "org.opencontainers.image.title"
PLUGIN_FILE = "plugin.wasm"
"""The file name Istio's fetcher looks for inside a Docker/OCI image layer."""
RECEIVER_FILE = "receiver.wasm"
"""The file the gateway's init container copies from the volume image's working directory."""

WASM_MAGIC = b"\0asm"
WASM_CORE_VERSION = b"\x01\x00\x00\x00"

WasmFormat = Literal["artifact", "compat"]
"""``artifact``: OCI Wasm artifact (2 layers); ``compat``: one-layer OCI image holding plugin.wasm."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Compact, key-sorted JSON: the same value always gives the same bytes (and digest)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def check_wasm_module(data: bytes, what: str) -> None:
    """Raise :class:`ImageFormatError` unless ``data`` is a WebAssembly core module (magic + version 1)."""
    if len(data) < 8 or data[:4] != WASM_MAGIC:
        head = data[:4].hex() or "nothing"
        raise ImageFormatError(
            f"{what} is not a WebAssembly module: it starts with 0x{head}, expected the magic "
            "0x0061736d ('\\0asm')"
        )
    version = data[4:8]
    if version != WASM_CORE_VERSION:
        kind = (
            "a WebAssembly component (component model)"
            if version[2:] == b"\x01\x00"
            else (f"WebAssembly binary version 0x{version.hex()}")
        )
        raise ImageFormatError(
            f"{what} is {kind}; Envoy loads only core modules of version 1 (0x01000000)"
        )


def wasm_format_for(features: IstioFeatures) -> WasmFormat:
    """The format a local sender ``.wasm`` is pushed in for this Istio version.

    Every supported release accepts both. On 1.13 - 1.15, whose fetcher is the strictest about
    images, the one-layer compat image (the format of the published ``oci-sender``) is used; from
    1.16 the OCI Wasm artifact, which stores the module uncompressed and without a tar wrapper.
    """
    return "compat" if features.wasm_docker_single_layer_only else "artifact"


# --- deterministic archives -------------------------------------------------------------------


def gzip_stored(data: bytes) -> bytes:
    """A gzip member holding ``data`` in stored (uncompressed) deflate blocks.

    Written by hand so that the bytes depend on nothing but ``data`` (no zlib version, level or
    timestamp): the digest of a pushed layer can be computed before pushing.
    """
    out = bytearray(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # no mtime, no flags, OS unknown
    view = memoryview(data)
    offset = 0
    while True:
        chunk = view[offset : offset + 0xFFFF]
        offset += len(chunk)
        final = offset >= len(data)
        out += struct.pack("<BHH", 1 if final else 0, len(chunk), len(chunk) ^ 0xFFFF)
        out += chunk
        if final:
            break
    out += struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return bytes(out)


def tar_one_file(path: str, data: bytes) -> bytes:
    """A ustar archive with one regular file (mode 0644, owner 0:0, mtime 0)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo(path)
        info.size = len(data)
        info.mode = 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def read_file_from_layer(layer: bytes, wanted: Callable[[str], bool], what: str) -> bytes | None:
    """The content of the last regular file in a tar(.gz) layer whose path satisfies ``wanted``."""
    found = find_file_in_layer(layer, wanted, what)
    return found[0] if found else None


def find_file_in_layer(
    layer: bytes, wanted: Callable[[str], bool], what: str
) -> tuple[bytes, int] | None:
    """Content and permission bits of the last regular file in a layer matching ``wanted``."""
    raw = layer
    if layer[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(layer)
        except (OSError, EOFError, zlib.error) as error:
            raise ImageFormatError(f"{what} is not a valid gzip stream: {error}") from None
    found = None
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
            for member in archive:
                if member.isfile() and wanted(member.name):
                    extracted = archive.extractfile(member)
                    found = (extracted.read(), member.mode) if extracted else None
    except tarfile.TarError as error:
        raise ImageFormatError(f"{what} is not a valid tar archive: {error}") from None
    return found


# --- images -----------------------------------------------------------------------------------


@dataclass
class Manifest:
    """A manifest exactly as stored: its bytes, media type and digest."""

    data: bytes
    media_type: str
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.digest:
            self.digest = sha256_digest(self.data)

    def parsed(self) -> dict[str, Any]:
        try:
            value = json.loads(self.data)
        except ValueError as error:
            raise ImageFormatError(f"manifest {self.digest} is not JSON: {error}") from None
        if not isinstance(value, dict):
            raise ImageFormatError(f"manifest {self.digest} is not a JSON object")
        return value

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MANIFESTS


@dataclass
class BuiltImage:
    """An image built in memory: blobs, child manifests (for an index) and the top manifest."""

    manifest: Manifest
    blobs: dict[str, bytes] = field(default_factory=dict)
    children: list[Manifest] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return self.manifest.digest


def _descriptor(media_type: str, data: bytes, annotations: Mapping[str, str] | None = None) -> dict:
    descriptor: dict[str, Any] = {
        "mediaType": media_type,
        "digest": sha256_digest(data),
        "size": len(data),
    }
    if annotations:
        descriptor["annotations"] = dict(annotations)
    return descriptor


def build_wasm_artifact(wasm: bytes) -> BuiltImage:
    """OCI Wasm artifact: a Wasm config layer and the raw module layer (Istio: exactly two layers)."""
    check_wasm_module(wasm, "the Wasm file")
    config = canonical_json({})
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(WASM_CONFIG, config),
        "layers": [
            _descriptor(WASM_CONFIG, config),
            _descriptor(WASM_CONTENT_LAYER, wasm, {ANNOTATION_TITLE: PLUGIN_FILE}),
        ],
    }
    blobs = {sha256_digest(config): config, sha256_digest(wasm): wasm}
    return BuiltImage(Manifest(canonical_json(manifest), OCI_MANIFEST), blobs)


def build_compat_image(wasm: bytes) -> BuiltImage:
    """One-layer OCI image whose tar.gz layer holds ``/plugin.wasm`` (Istio's 'compat' format)."""
    check_wasm_module(wasm, "the Wasm file")
    tar = tar_one_file(PLUGIN_FILE, wasm)
    layer = gzip_stored(tar)
    config = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
        }
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(OCI_CONFIG, config),
        "layers": [_descriptor(OCI_LAYER_TAR_GZIP, layer)],
    }
    blobs = {sha256_digest(config): config, sha256_digest(layer): layer}
    return BuiltImage(Manifest(canonical_json(manifest), OCI_MANIFEST), blobs)


def build_wasm_image(wasm: bytes, wasm_format: WasmFormat) -> BuiltImage:
    if wasm_format == "artifact":
        return build_wasm_artifact(wasm)
    if wasm_format == "compat":
        return build_compat_image(wasm)
    raise ValueError(f"unknown Wasm image format {wasm_format!r}")


def overlay_file(
    base: Manifest, base_config: bytes, path_in_workdir: str, content: bytes
) -> tuple[Manifest, dict[str, bytes]]:
    """A new image = ``base`` plus one layer writing ``content`` to ``<WorkingDir>/<path_in_workdir>``.

    Used for the receiver volume image: the base (e.g. the published alpine-based image) keeps the
    shell and ``cp`` the init container runs; the new top layer replaces ``receiver.wasm``.
    Returns the new manifest and the new blobs (config and layer).
    """
    manifest = base.parsed()
    try:
        config = json.loads(base_config)
    except ValueError as error:
        raise ImageFormatError(
            f"the config of base image {base.digest} is not JSON: {error}"
        ) from None
    workdir = str((config.get("config") or {}).get("WorkingDir") or "/")
    path = posixpath.normpath(posixpath.join(workdir, path_in_workdir)).lstrip("/")
    tar = tar_one_file(path, content)
    layer = gzip_stored(tar)
    docker = base.media_type == DOCKER_MANIFEST
    rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    rootfs.setdefault("diff_ids", []).append(sha256_digest(tar))
    config.setdefault("history", []).append(
        {"created_by": f"acpw: add /{path}", "comment": "pushed by the acpw Pulumi program"}
    )
    new_config = canonical_json(config)
    manifest["config"] = _descriptor(
        manifest.get("config", {}).get("mediaType") or (DOCKER_CONFIG if docker else OCI_CONFIG),
        new_config,
    )
    manifest["layers"] = [
        *manifest.get("layers", []),
        _descriptor(DOCKER_LAYER_TAR_GZIP if docker else OCI_LAYER_TAR_GZIP, layer),
    ]
    blobs = {sha256_digest(new_config): new_config, sha256_digest(layer): layer}
    return Manifest(canonical_json(manifest), base.media_type), blobs


# --- what consumers accept --------------------------------------------------------------------


def select_platform(index: Manifest, ref: str) -> dict[str, Any]:
    """The descriptor Istio's fetcher and a linux/amd64 kubelet pick from an image index."""
    entries = index.parsed().get("manifests") or []
    for entry in entries:
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return dict(entry)
    raise ImageFormatError(
        f"{ref} is an image index without a linux/amd64 image: Istio's fetcher pulls linux/amd64"
    )


def _layer_list(manifest: dict[str, Any], ref: str) -> list[dict[str, Any]]:
    layers = manifest.get("layers")
    if not isinstance(layers, list) or not all(isinstance(item, dict) for item in layers):
        raise ImageFormatError(f"{ref}: the manifest has no valid 'layers' list")
    return layers


def check_sender_image(
    manifest: Manifest,
    get_blob: Callable[[str], bytes],
    features: IstioFeatures,
    ref: str,
) -> str:
    """Apply Istio's Wasm fetcher rules for this version to an image manifest (not an index).

    ``get_blob`` returns a blob's bytes by digest. Returns a short description of the format found;
    raises :class:`ImageFormatError` naming the rule that fails.
    """
    if manifest.is_index:
        raise ImageFormatError(f"{ref}: resolve the image index to a platform manifest first")
    parsed = manifest.parsed()
    layers = _layer_list(parsed, ref)
    version = features.version
    single = features.wasm_docker_single_layer_only

    def image_layer(layer_media_type: str, kind: str) -> str:
        if single and len(layers) != 1:
            raise ImageFormatError(
                f"{ref} is a {kind} image with {len(layers)} layers, and Istio {version} accepts only "
                f"exactly one (its fetcher fails with 'number of layers must be 1 but got "
                f"{len(layers)}'): build it FROM scratch with only /{PLUGIN_FILE}, push the .wasm "
                "file instead (acpw:images.senderFile), or use Istio 1.16 or later"
            )
        if not layers:
            raise ImageFormatError(f"{ref} is a {kind} image without layers")
        last = layers[-1]
        if last.get("mediaType") != layer_media_type:
            raise ImageFormatError(
                f"{ref}: the layer Istio reads has media type {last.get('mediaType')!r}, "
                f"expected {layer_media_type!r}"
            )
        content = read_file_from_layer(
            get_blob(str(last.get("digest"))),
            lambda name: posixpath.basename(name) == PLUGIN_FILE,
            f"{ref}: layer {last.get('digest')}",
        )
        if content is None:
            raise ImageFormatError(
                f"{ref}: the layer Istio reads holds no file named {PLUGIN_FILE}"
            )
        check_wasm_module(content, f"{ref}: {PLUGIN_FILE}")
        return f"{kind} image, {len(layers)} layer(s), {PLUGIN_FILE} in the last layer"

    if manifest.media_type == DOCKER_MANIFEST:
        return image_layer(DOCKER_LAYER_TAR_GZIP, "Docker")

    problems = []
    try:
        return image_layer(OCI_LAYER_TAR_GZIP, "OCI")
    except ImageFormatError as error:
        problems.append(f"as an OCI image: {error}")
    wasm_layers = [item for item in layers if item.get("mediaType") == WASM_CONTENT_LAYER]
    if len(layers) != 2:
        problems.append(
            f"as an OCI Wasm artifact: it has {len(layers)} layers, the fetcher requires exactly 2"
        )
    elif not wasm_layers:
        problems.append(f"as an OCI Wasm artifact: no layer has media type {WASM_CONTENT_LAYER}")
    else:
        check_wasm_module(get_blob(str(wasm_layers[0].get("digest"))), f"{ref}: the Wasm layer")
        return "OCI Wasm artifact, 2 layers"
    raise ImageFormatError(
        f"{ref} is not a Wasm image Istio {version} can load:\n  " + "\n  ".join(problems)
    )


def check_volume_image(
    manifest: Manifest, config: bytes, get_blob: Callable[[str], bytes], ref: str
) -> str:
    """Check that ``receiver.wasm`` is in the image's working directory and is a Wasm module.

    The init container runs ``cp ./receiver.wasm ...`` in that directory. Layers are searched
    from the top (the last layer that writes the file wins). Returns the file's path.
    """
    try:
        workdir = str((json.loads(config).get("config") or {}).get("WorkingDir") or "/")
    except ValueError as error:
        raise ImageFormatError(f"{ref}: the image config is not JSON: {error}") from None
    wanted = posixpath.normpath(posixpath.join(workdir, RECEIVER_FILE)).lstrip("/")
    for layer in reversed(_layer_list(manifest.parsed(), ref)):
        found = find_file_in_layer(
            get_blob(str(layer.get("digest"))),
            lambda name: posixpath.normpath(name).lstrip("/") == wanted,
            f"{ref}: layer {layer.get('digest')}",
        )
        if found is not None:
            content, mode = found
            check_wasm_module(content, f"{ref}: /{wanted}")
            if not mode & 0o004:
                # The init container runs as a fixed non-root UID (acpw/gateway.py): it can copy
                # only a file that every user may read.
                raise ImageFormatError(
                    f"{ref}: /{wanted} has mode {mode:04o}: the init container runs as a non-root "
                    "user and can copy it only if it is readable by all users (o+r, e.g. 0644)"
                )
            return "/" + wanted
    raise ImageFormatError(
        f"{ref} has no /{wanted}: the init container copies {RECEIVER_FILE} from the image's "
        f"working directory ({workdir})"
    )

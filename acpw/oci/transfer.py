"""Push and resolve images: the operations behind ``acpw.oci.publish`` (outside the engine).

Order of every push, so that a failure never leaves a usable-looking half image behind:
read and check everything first (source manifest, blobs Istio or the init container reads,
the local file), then upload blobs (invisible until referenced), then child manifests by digest,
then the tagged top manifest last. If a step after the first child manifest fails, the child
manifests pushed so far are deleted again. A tag is only ever written for a complete image.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from acpw.istio_versions import IstioFeatures
from acpw.oci.client import Connection, Reference, RegistryClient
from acpw.oci.errors import (
    DigestMismatch,
    ImageFormatError,
    OciError,
    RegistryError,
)
from acpw.oci.formats import (
    RECEIVER_FILE,
    BuiltImage,
    Manifest,
    WasmFormat,
    build_wasm_image,
    canonical_json,
    check_sender_image,
    check_volume_image,
    check_wasm_module,
    overlay_file,
    select_platform,
)

ROLE_SENDER = "sender"
ROLE_VOLUME = "receiverVolume"


@dataclass
class PushResult:
    """What a copy or push left in the target repository."""

    digest: str
    """Digest of the top manifest: what ``WasmPlugin.spec.sha256`` and the init container get."""
    tag: str
    image: str
    """``registry/repository@digest``."""
    pushed: bool
    """False when the target already held this exact image (nothing was uploaded)."""
    source_digest: str | None = None
    """For copies and volume images: the digest the source (or base) tag pointed to."""
    children: list[str] = field(default_factory=list)
    """Digests of child manifests (when the image is an index)."""
    description: str = ""


def tag_for(prefix: str | None, digest: str) -> str:
    """An immutable-tag-safe tag: the source tag (or a kind) plus the first 12 hex of the digest."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "-", prefix or "image")[:100].lstrip(".-") or "image"
    return f"{base}-{digest.removeprefix('sha256:')[:12]}"


def read_file(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ImageFormatError(f"cannot read {what} {path}: {error.strerror or error}") from None


class _BlobSource:
    """Reads blobs from one client, each at most once."""

    def __init__(self, client: RegistryClient, extra: dict[str, bytes] | None = None) -> None:
        self.client = client
        self.cache: dict[str, bytes] = dict(extra or {})

    def get(self, digest: str) -> bytes:
        if digest not in self.cache:
            self.cache[digest] = self.client.get_blob(digest)
        return self.cache[digest]


def _blob_digests(manifest: Manifest) -> list[str]:
    parsed = manifest.parsed()
    found = []
    config = parsed.get("config") or {}
    if config.get("digest"):
        found.append(str(config["digest"]))
    for layer in parsed.get("layers") or []:
        if layer.get("urls"):
            continue  # foreign layer: the registry does not store it
        found.append(str(layer["digest"]))
    return list(dict.fromkeys(found))


def _platform_image(client: RegistryClient, top: Manifest, ref: str) -> Manifest:
    if not top.is_index:
        return top
    return client.get_manifest(str(select_platform(top, ref)["digest"]))


def _check(
    role: str,
    image: Manifest,
    blobs: _BlobSource,
    features: IstioFeatures,
    ref: str,
) -> str:
    if role == ROLE_SENDER:
        return check_sender_image(image, blobs.get, features, ref)
    if role == ROLE_VOLUME:
        config_digest = str((image.parsed().get("config") or {}).get("digest"))
        return "receiver at " + check_volume_image(image, blobs.get(config_digest), blobs.get, ref)
    raise ValueError(f"unknown image role {role!r}")


def _upload(
    target: RegistryClient,
    top: Manifest,
    children: list[Manifest],
    blobs: _BlobSource,
    tag: str,
) -> bool:
    """Push blobs, children and the tagged top manifest. False when the tag already holds ``top``."""
    existing = target.manifest_digest(tag)
    if existing == top.digest:
        return False
    if existing is not None:
        raise RegistryError(
            f"{target.registry}/{target.repository}:{tag} already points to {existing}, not {top.digest}"
        )
    images = children if top.is_index else [top]
    for image in images:
        for digest in _blob_digests(image):
            if not target.blob_exists(digest):
                target.push_blob(blobs.get(digest), digest)
    pushed_children: list[str] = []
    try:
        for child in children:
            target.put_manifest(child)
            pushed_children.append(child.digest)
        target.put_manifest(top, tag)
    except OciError:
        for digest in pushed_children:
            # Best effort: untagged manifests are also expired by the lifecycle policy.
            with contextlib.suppress(OciError):
                target.delete_manifest(digest)
        raise
    return True


def build_wasm_file_image(path: str, wasm_format: WasmFormat) -> BuiltImage:
    """The image a local sender ``.wasm`` becomes (deterministic: same file, same digest)."""
    return build_wasm_image(read_file(path, "the Wasm file"), wasm_format)


def push_wasm_file(
    path: str,
    target_repository: str,
    *,
    wasm_format: WasmFormat,
    features: IstioFeatures,
    target_connection: Connection | None = None,
    expected_digest: str | None = None,
) -> PushResult:
    """Push a local ``.wasm`` as an OCI Wasm artifact or a one-layer compat image."""
    wasm = read_file(path, "the Wasm file")
    check_wasm_module(wasm, f"{path}")
    built = build_wasm_image(wasm, wasm_format)
    if expected_digest and built.digest != expected_digest:
        raise DigestMismatch(
            f"{path} changed since the preview: its image digest is {built.digest}, expected {expected_digest}"
        )
    target = Reference.parse(target_repository)
    dst = RegistryClient(target.registry, target.repository, target_connection)
    blobs = _BlobSource(dst, built.blobs)
    description = check_sender_image(built.manifest, blobs.get, features, path)
    tag = tag_for(f"wasm-{wasm_format}", built.digest)
    pushed = _upload(dst, built.manifest, [], blobs, tag)
    return PushResult(
        built.digest,
        tag,
        f"{target.repository_url}@{built.digest}",
        pushed,
        description=description,
    )


def build_volume_image(
    receiver: bytes, base: Reference, src: RegistryClient, base_top: Manifest
) -> tuple[Manifest, list[Manifest], dict[str, bytes]]:
    """The receiver volume image: ``base`` plus a layer writing ``receiver.wasm`` in its workdir.

    An index base gives a new index of the rebuilt platform images (attestation manifests, which
    describe the old images, are dropped).
    """
    new_blobs: dict[str, bytes] = {}

    def rebuild(image: Manifest) -> Manifest:
        config_digest = str((image.parsed().get("config") or {}).get("digest"))
        manifest, blobs = overlay_file(image, src.get_blob(config_digest), RECEIVER_FILE, receiver)
        new_blobs.update(blobs)
        return manifest

    if not base_top.is_index:
        return rebuild(base_top), [], new_blobs
    index = base_top.parsed()
    entries = []
    children = []
    for entry in index.get("manifests") or []:
        platform = entry.get("platform") or {}
        if platform.get("os") in (None, "unknown") or platform.get("architecture") == "unknown":
            continue
        child = rebuild(src.get_manifest(str(entry["digest"])))
        children.append(child)
        entries.append(
            {
                **entry,
                "digest": child.digest,
                "size": len(child.data),
                "mediaType": child.media_type,
            }
        )
    if not entries:
        raise ImageFormatError(f"{base} is an image index without any platform image")
    index["manifests"] = entries
    return Manifest(canonical_json(index), base_top.media_type), children, new_blobs


def push_volume_file(
    path: str,
    base: Reference,
    target_repository: str,
    *,
    features: IstioFeatures,
    source_connection: Connection | None = None,
    target_connection: Connection | None = None,
) -> PushResult:
    """Push the base image plus the local receiver ``.wasm`` as the init container's volume image."""
    receiver = read_file(path, "the receiver Wasm file")
    check_wasm_module(receiver, path)
    src = RegistryClient.for_reference(base, source_connection)
    base_top = src.get_manifest(base.reference)
    if base.digest and base_top.digest != base.digest:
        raise DigestMismatch(f"{base} resolves to {base_top.digest}")
    top, children, new_blobs = build_volume_image(receiver, base, src, base_top)
    blobs = _BlobSource(src, new_blobs)
    image = top
    if top.is_index:
        chosen = str(select_platform(top, str(base))["digest"])
        image = next(child for child in children if child.digest == chosen)
    description = _check(ROLE_VOLUME, image, blobs, features, f"{path} on {base}")
    target = Reference.parse(target_repository)
    dst = RegistryClient(target.registry, target.repository, target_connection)
    tag = tag_for("volume", top.digest)
    pushed = _upload(dst, top, children, blobs, tag)
    return PushResult(
        top.digest,
        tag,
        f"{target.repository_url}@{top.digest}",
        pushed,
        source_digest=base_top.digest,
        children=[child.digest for child in children],
        description=description,
    )


def resolve_image(
    ref: Reference,
    *,
    role: str,
    features: IstioFeatures,
    connection: Connection | None = None,
    expected_digest: str | None = None,
) -> tuple[str, str]:
    """Resolve a tag to its manifest digest and check the image for its role; (digest, description)."""
    client = RegistryClient.for_reference(ref, connection)
    top = client.get_manifest(expected_digest or ref.reference)
    if ref.digest and expected_digest and ref.digest != expected_digest:
        raise DigestMismatch(f"{ref} is pinned to {ref.digest}, but {expected_digest} was expected")
    description = ""
    if role == ROLE_SENDER:
        description = _check(
            role, _platform_image(client, top, str(ref)), _BlobSource(client), features, str(ref)
        )
    return top.digest, description


__all__ = [
    "ROLE_SENDER",
    "ROLE_VOLUME",
    "PushResult",
    "build_volume_image",
    "build_wasm_file_image",
    "push_volume_file",
    "push_wasm_file",
    "resolve_image",
    "tag_for",
]

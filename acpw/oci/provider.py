"""Pulumi dynamic resources that publish and pin the Wasm images.

``ImagePush``: copies an image into a repository, or pushes a local ``.wasm`` (sender: OCI Wasm
artifact or one-layer compat image; receiver: the volume image = base image + ``receiver.wasm``).
Output ``digest`` is the pushed manifest digest.

``ImageDigest``: resolves a tag to its manifest digest at deploy time and checks the image against
Istio's fetcher rules for the configured version (nothing is written).

Both are registered with the type ``pulumi-python:dynamic:Resource`` and take ``source`` and,
when the digest is known in advance, ``expected_digest`` (the contract of tools/mock_engine.py).

Credentials (``source_credentials``, ``target_credentials``) are secret inputs and secret outputs;
they never reach an error message. A credentials-only change is not a change: a fresh ECR token
on every run does not cause an update.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from acpw.istio_versions import IstioFeatures, IstioVersion
from acpw.oci.client import Connection, Credentials, Reference
from acpw.oci.errors import ImageFormatError, RegistryAuthError
from acpw.oci.formats import check_wasm_module
from acpw.oci.transfer import (
    ROLE_SENDER,
    ROLE_TOOL,
    ROLE_VOLUME,
    PushResult,
    copy_image,
    current_digest,
    delete_image,
    push_volume_file,
    push_wasm_file,
    read_file,
    resolve_image,
)

KIND_COPY = "copy"
KIND_WASM_FILE = "wasmFile"
KIND_VOLUME_FILE = "volumeFile"
SECRET_KEYS = ("source_credentials", "target_credentials", "credentials")

_PUSH_COMPARED = (
    "kind",
    "source",
    "role",
    "wasm_format",
    "base",
    "file_sha256",
    "istio_version",
    "target",
    "expected_digest",
    "plain_http",
    "ca_pem",
)
_DIGEST_COMPARED = ("source", "role", "istio_version", "expected_digest", "plain_http", "ca_pem")


@contextlib.contextmanager
def _connections(
    props: dict[str, Any], *hosts_and_keys: tuple[str, str]
) -> Iterator[list[Connection]]:
    """One Connection per (registry host, credentials key), with the CA bundle in a temp file."""
    ca_pem = props.get("ca_pem")
    plain = set(props.get("plain_http") or [])
    ca_file = None
    try:
        if ca_pem:
            handle, ca_file = tempfile.mkstemp(prefix="acpw-ca-", suffix=".pem")
            with os.fdopen(handle, "w") as stream:
                stream.write(str(ca_pem))
        yield [
            Connection(
                credentials=Credentials.from_value(props.get(key)),
                plain_http=host in plain,
                ca_file=ca_file,
                timeout=float(props.get("timeout_seconds") or 30),
                attempts=int(props.get("attempts") or 3),
            )
            for host, key in hosts_and_keys
        ]
    finally:
        if ca_file:
            os.unlink(ca_file)


def _features(props: dict[str, Any]) -> IstioFeatures:
    return IstioFeatures(IstioVersion.parse(str(props["istio_version"])))


def _is_pinned(ref: str) -> bool:
    return "@sha256:" in ref


class ImagePushProvider(ResourceProvider):
    """Create/update push the image; delete removes the pushed manifest; diff notices moved tags."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        source = news.get("source")
        if news.get("kind") in (KIND_WASM_FILE, KIND_VOLUME_FILE) and isinstance(source, str):
            try:
                check_wasm_module(read_file(source, "the Wasm file"), source)
            except ImageFormatError as error:
                failures.append(CheckFailure("source", str(error)))
        return CheckResult(news, failures)

    def _push(self, props: dict[str, Any]) -> PushResult:
        kind = props["kind"]
        target = str(props["target"])
        target_host = Reference.parse(target).registry
        features = _features(props)
        expected = props.get("expected_digest") or None
        if kind == KIND_COPY:
            source = Reference.parse(str(props["source"]))
            with _connections(
                props, (source.registry, "source_credentials"), (target_host, "target_credentials")
            ) as (src, dst):
                return copy_image(
                    source,
                    target,
                    role=str(props["role"]),
                    features=features,
                    source_connection=src,
                    target_connection=dst,
                    expected_digest=expected,
                )
        if kind == KIND_WASM_FILE:
            with _connections(props, (target_host, "target_credentials")) as (dst,):
                return push_wasm_file(
                    str(props["source"]),
                    target,
                    wasm_format=props.get("wasm_format") or "artifact",
                    features=features,
                    target_connection=dst,
                    expected_digest=expected,
                )
        if kind == KIND_VOLUME_FILE:
            base = Reference.parse(str(props["base"]))
            with _connections(
                props, (base.registry, "source_credentials"), (target_host, "target_credentials")
            ) as (src, dst):
                return push_volume_file(
                    str(props["source"]),
                    base,
                    target,
                    features=features,
                    source_connection=src,
                    target_connection=dst,
                )
        raise ValueError(f"unknown image push kind {kind!r}")

    @staticmethod
    def _outs(props: dict[str, Any], result: PushResult) -> dict[str, Any]:
        return {
            **props,
            "digest": result.digest,
            "tag": result.tag,
            "image": result.image,
            "pushed": result.pushed,
            "source_digest": result.source_digest,
            "children": result.children,
            "description": result.description,
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        result = self._push(props)
        return CreateResult(f"{props['target']}@{result.digest}", self._outs(props, result))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # The previous image stays: pods of the old ReplicaSet may still pull it during the
        # rollout; the repository's lifecycle policy expires it.
        return UpdateResult(self._outs(news, self._push(news)))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in _PUSH_COMPARED if olds.get(key) != news.get(key)]
        if not changed:
            moving = None
            if news.get("kind") == KIND_COPY and not _is_pinned(str(news.get("source"))):
                moving = str(news["source"])
            elif news.get("kind") == KIND_VOLUME_FILE and not _is_pinned(str(news.get("base"))):
                moving = str(news["base"])
            if moving:
                ref = Reference.parse(moving)
                with _connections(news, (ref.registry, "source_credentials")) as (src,):
                    if current_digest(ref, src) != olds.get("source_digest"):
                        changed.append("source" if news.get("kind") == KIND_COPY else "base")
        return DiffResult(
            changes=bool(changed), replaces=[], stables=[], delete_before_replace=False
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        digest = props.get("digest")
        if not digest:
            return
        target = str(props["target"])
        with _connections(props, (Reference.parse(target).registry, "target_credentials")) as (
            dst,
        ):
            try:
                delete_image(target, str(digest), list(props.get("children") or []), dst)
            except RegistryAuthError:
                if not props.get("delete_best_effort"):
                    raise
                # ECR: the recorded token may have expired (12 h). The repository's lifecycle
                # policy (and force_delete when the repository goes) removes the image instead.


class ImageDigestProvider(ResourceProvider):
    """Resolve a tag to its manifest digest and check the image; diff notices a moved tag."""

    def _resolve(self, props: dict[str, Any]) -> dict[str, Any]:
        ref = Reference.parse(str(props["source"]))
        with _connections(props, (ref.registry, "credentials")) as (conn,):
            digest, description = resolve_image(
                ref,
                role=str(props.get("role") or ROLE_VOLUME),
                features=_features(props),
                connection=conn,
                expected_digest=props.get("expected_digest") or None,
            )
        return {**props, "digest": digest, "description": description}

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._resolve(props)
        return CreateResult(f"{props['source']}@{outs['digest']}", outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._resolve(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in _DIGEST_COMPARED if olds.get(key) != news.get(key)]
        if not changed and not news.get("expected_digest") and not _is_pinned(str(news["source"])):
            ref = Reference.parse(str(news["source"]))
            with _connections(news, (ref.registry, "credentials")) as (conn,):
                if current_digest(ref, conn) != olds.get("digest"):
                    changed.append("source")
        return DiffResult(
            changes=bool(changed), replaces=[], stables=[], delete_before_replace=False
        )

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to delete: resolving reads only."""


@dataclass
class ImagePushArgs:
    """Inputs of :class:`ImagePush`."""

    kind: str
    """``copy`` (source image ref), ``wasmFile`` (source .wasm path), ``volumeFile`` (receiver .wasm path)."""
    source: pulumi.Input[str]
    target: pulumi.Input[str]
    """Target repository, ``registry/repository`` (an ECR repository URL)."""
    role: str
    istio_version: str
    expected_digest: str | None = None
    wasm_format: str | None = None
    base: str | None = None
    """``volumeFile``: the image the receiver file is layered on (it provides ``cp``)."""
    file_sha256: str | None = None
    source_credentials: pulumi.Input[dict[str, str]] | None = None
    target_credentials: pulumi.Input[dict[str, str]] | None = None
    plain_http: list[str] | None = None
    """Registry hosts reached over plain HTTP (loopback test registries only)."""
    ca_pem: str | None = None
    """Extra CA bundle (PEM) to trust (test registries with a private CA)."""
    delete_best_effort: bool = False
    attempts: int | None = None
    timeout_seconds: float | None = None


def _secret_or_none(value: Any) -> Any:
    return pulumi.Output.secret(value) if value is not None else None


class ImagePush(Resource):
    """An image copied or pushed into a repository; ``digest`` is its manifest digest."""

    digest: pulumi.Output[str]
    tag: pulumi.Output[str]
    image: pulumi.Output[str]

    def __init__(
        self, name: str, args: ImagePushArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props: dict[str, Any] = {
            "kind": args.kind,
            "source": args.source,
            "target": args.target,
            "role": args.role,
            "istio_version": args.istio_version,
            "expected_digest": args.expected_digest,
            "wasm_format": args.wasm_format,
            "base": args.base,
            "file_sha256": args.file_sha256,
            "source_credentials": _secret_or_none(args.source_credentials),
            "target_credentials": _secret_or_none(args.target_credentials),
            "plain_http": args.plain_http or [],
            "ca_pem": args.ca_pem,
            "delete_best_effort": args.delete_best_effort,
            "attempts": args.attempts,
            "timeout_seconds": args.timeout_seconds,
            "digest": None,
            "tag": None,
            "image": None,
            "pushed": None,
            "source_digest": None,
            "children": None,
            "description": None,
        }
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_KEYS[:2]))
        )
        super().__init__(ImagePushProvider(), name, props, opts)


@dataclass
class ImageDigestArgs:
    """Inputs of :class:`ImageDigest`."""

    source: str
    role: str
    istio_version: str
    expected_digest: str | None = None
    credentials: pulumi.Input[dict[str, str]] | None = None
    plain_http: list[str] | None = None
    ca_pem: str | None = None


class ImageDigest(Resource):
    """The manifest digest a tag points to at deploy time (checked against Istio's fetcher rules)."""

    digest: pulumi.Output[str]

    def __init__(
        self, name: str, args: ImageDigestArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props: dict[str, Any] = {
            "source": args.source,
            "role": args.role,
            "istio_version": args.istio_version,
            "expected_digest": args.expected_digest,
            "credentials": _secret_or_none(args.credentials),
            "plain_http": args.plain_http or [],
            "ca_pem": args.ca_pem,
            "digest": None,
            "description": None,
        }
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["credentials"])
        )
        super().__init__(ImageDigestProvider(), name, props, opts)


__all__ = [
    "KIND_COPY",
    "KIND_VOLUME_FILE",
    "KIND_WASM_FILE",
    "ROLE_SENDER",
    "ROLE_TOOL",
    "ROLE_VOLUME",
    "ImageDigest",
    "ImageDigestArgs",
    "ImageDigestProvider",
    "ImagePush",
    "ImagePushArgs",
    "ImagePushProvider",
]

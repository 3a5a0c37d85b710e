"""Publish or check the Wasm images outside the Pulumi engine; print the config to pin them.

The program no longer pushes images itself (that took a Python dynamic provider, which fails from
every other language: docs/ARCHITECTURE.md). Run this where you build the modules, then set the
printed ``acpw:images`` keys.

    python -m acpw.oci.publish sender plugin.wasm --to ghcr.io/me/acpw-sender --istio-version 1.30
    python -m acpw.oci.publish receiver receiver.wasm --to ghcr.io/me/acpw-receiver \\
        --base ghcr.io/hatappi/aws-cloudwatch-proxy-wasm:v0.1.0 --istio-version 1.30
    python -m acpw.oci.publish check sender oci://ghcr.io/me/acpw-sender:v1 --istio-version 1.13

``check`` is the test 0.2.0 ran at deploy time: the image must be what Istio's Wasm fetcher of
that version accepts (acpw/oci/formats.py); it prints the digest to pin. Credentials come from
``ACPW_REGISTRY_USERNAME`` / ``ACPW_REGISTRY_PASSWORD`` (never printed); without them the
registry is used anonymously. The pushed tag is derived from the content
(``wasm-artifact-<12 hex>``, ...), so a repository with immutable tags works.
``--plain-http HOST`` and ``--ca-file`` are for test registries.
"""

from __future__ import annotations

import argparse
import os
import sys

from acpw.istio_versions import IstioFeatures, IstioVersion
from acpw.oci.client import Connection, Credentials, Reference
from acpw.oci.errors import OciError
from acpw.oci.formats import wasm_format_for
from acpw.oci.transfer import (
    ROLE_SENDER,
    ROLE_VOLUME,
    push_volume_file,
    push_wasm_file,
    resolve_image,
)


def _connection(host: str, args: argparse.Namespace) -> Connection:
    username = os.environ.get("ACPW_REGISTRY_USERNAME")
    password = os.environ.get("ACPW_REGISTRY_PASSWORD")
    credentials = Credentials(username, password) if username and password else None
    return Connection(
        credentials=credentials, plain_http=host in args.plain_http, ca_file=args.ca_file
    )


def _print_pins(image_key: str, digest_key: str, reference: str, digest: str) -> None:
    print(f"acpw:images.{image_key}: {reference}")
    print(f"acpw:images.{digest_key}: {digest}")


def _split_target(target: str) -> tuple[str, str | None]:
    """``registry/repository[:tag]`` -> (repository, tag)."""
    name, _, tag = target.rpartition(":") if ":" in target.rsplit("/", 1)[-1] else (target, "", "")
    return (name, tag or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("sender", "receiver"):
        push = sub.add_parser(name, help=f"push a local {name} .wasm")
        push.add_argument("file")
        push.add_argument(
            "--to", required=True, help="registry/repository (the tag is derived from the digest)"
        )
        push.add_argument("--istio-version", required=True)
        push.add_argument("--plain-http", action="append", default=[])
        push.add_argument("--ca-file", help="extra CA bundle (PEM) to trust")
        if name == "receiver":
            push.add_argument(
                "--base", required=True, help="image that provides cp (by tag or digest)"
            )
    check = sub.add_parser("check", help="check a published image and print its digest")
    check.add_argument("role", choices=["sender", "receiver"])
    check.add_argument("image")
    check.add_argument("--istio-version", required=True)
    check.add_argument("--plain-http", action="append", default=[])
    check.add_argument("--ca-file", help="extra CA bundle (PEM) to trust")
    args = parser.parse_args(argv)
    try:
        features = IstioFeatures(IstioVersion.parse(args.istio_version))
    except ValueError as error:
        parser.error(f"--istio-version: {error}")
    try:
        if args.command == "check":
            ref = Reference.parse(args.image)
            role = ROLE_SENDER if args.role == "sender" else ROLE_VOLUME
            digest, description = resolve_image(
                ref,
                role=role,
                features=features,
                connection=_connection(ref.registry, args),
            )
            print(f"# {description}", file=sys.stderr)
            if args.role == "sender":
                _print_pins("sender", "senderDigest", args.image, digest)
            else:
                _print_pins("receiverVolume", "receiverVolumeDigest", args.image, digest)
            return 0
        repository, _tag = _split_target(args.to)
        target = _connection(repository.split("/", 1)[0], args)
        if args.command == "sender":
            result = push_wasm_file(
                args.file,
                repository,
                wasm_format=wasm_format_for(features),
                features=features,
                target_connection=target,
            )
            _print_pins("sender", "senderDigest", f"oci://{repository}:{result.tag}", result.digest)
        else:
            base = Reference.parse(args.base)
            result = push_volume_file(
                args.file,
                base,
                repository,
                features=features,
                source_connection=_connection(base.registry, args),
                target_connection=target,
            )
            _print_pins(
                "receiverVolume",
                "receiverVolumeDigest",
                f"{repository}:{result.tag}",
                result.digest,
            )
    except (OciError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

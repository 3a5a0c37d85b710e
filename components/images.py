"""Where the Wasm modules are pulled from: image references, digest pins and pull secrets."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import AcpwConfig


@dataclass(frozen=True)
class WasmImagesArgs:
    """Inputs of :class:`WasmImages`."""

    config: AcpwConfig
    """The validated stack configuration (images, Istio version, region, gateway namespaces)."""


class WasmImages(pulumi.ComponentResource):
    """The sender image for the WasmPlugins and the receiver volume image for the init containers."""

    sender_url: pulumi.Output[str]
    """``WasmPlugin.spec.url`` (``oci://...``)."""
    sender_sha256: pulumi.Output[str | None]
    """Manifest digest as 64 hex characters for ``WasmPlugin.spec.sha256``; None when unknown."""
    receiver_volume_image: pulumi.Output[str]
    """The init container's image, by digest where known."""
    pull_secret_name: str | None
    """Name of the ``kubernetes.io/dockerconfigjson`` Secret in each gateway namespace, if any."""

    def __init__(
        self, name: str, args: WasmImagesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acpw:images:WasmImages", name, None, opts)
        images = args.config.images
        self.sender_url = pulumi.Output.from_input(images.sender)
        digest = images.sender_digest
        self.sender_sha256 = pulumi.Output.from_input(
            digest.removeprefix("sha256:") if digest else None
        )
        volume = images.receiver_volume
        if images.receiver_volume_digest and "@" not in volume:
            volume = f"{volume}@{images.receiver_volume_digest}"
        self.receiver_volume_image = pulumi.Output.from_input(volume)
        self.pull_secret_name = None
        self.register_outputs(
            {
                "senderUrl": self.sender_url,
                "senderSha256": self.sender_sha256,
                "receiverVolumeImage": self.receiver_volume_image,
            }
        )

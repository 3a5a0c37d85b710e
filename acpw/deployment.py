"""AcpwDeployment: the whole ACPW deployment as one reusable ComponentResource."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pulumi

from acpw.config import AcpwConfig
from acpw.credentials import CREDENTIALS_SECRET, Credentials, CredentialsArgs
from acpw.gateway import GatewaySettings, GatewaySettingsArgs
from acpw.images import WasmImages, WasmImagesArgs
from acpw.istio_resources import IstioResources, IstioResourcesArgs
from acpw.observability import Observability, ObservabilityArgs


def cloudwatch_console_url(region: str, namespace: str) -> str:
    """Console link to the metrics of the configured CloudWatch namespace."""
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#metricsV2?graph=~()&namespace=~'{quote(namespace, safe='')}"
    )


@dataclass(frozen=True)
class AcpwDeploymentArgs:
    """Inputs of :class:`AcpwDeployment`."""

    config: AcpwConfig
    """The validated configuration (see ``acpw.config.load_config``)."""


class AcpwDeployment(pulumi.ComponentResource):
    """IAM identity, key Secrets, Wasm images, Istio objects and gateway settings for ACPW.

    AWS and Kubernetes providers are taken from ``opts`` (``providers=[...]``) and inherited
    by every child.
    """

    user_arn: pulumi.Output[str]
    """ARN of the IAM user whose keys the receiver signs with."""
    secret_names: dict[str, str]
    """Per gateway namespace: the Secret holding the keys."""
    gateways: dict[str, dict[str, object]]
    """Per gateway (``namespace/name``): receiver delivery, installer and Istio object names."""
    cloudwatch_console_url: str
    istio_operator_yaml: pulumi.Output[str] | None
    """IstioOperator for ``istioctl install -f`` when a gateway uses ``installer: istioOperator``."""
    observability: dict[str, object]
    """Dashboard name and URL, alarm names and topic, monthly cost estimate (acpw/observability.py)."""

    def __init__(
        self, name: str, args: AcpwDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acpw:index:AcpwDeployment", name, None, opts)
        config = args.config
        for warning in config.warnings():
            pulumi.log.warn(warning, resource=self)

        child = pulumi.ResourceOptions(parent=self)
        images = WasmImages(f"{name}-images", WasmImagesArgs(config=config), child)
        credentials = Credentials(f"{name}-credentials", CredentialsArgs(config=config), child)
        istio = IstioResources(
            f"{name}-istio",
            IstioResourcesArgs(
                config=config,
                sender_url=images.sender_url,
                sender_sha256=images.sender_sha256,
                pull_secret_name=images.pull_secret_name,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[images]),
        )
        # The gateways roll only once everything their bootstrap reads is in place.
        gateway_settings = GatewaySettings(
            f"{name}-gateways",
            GatewaySettingsArgs(
                config=config,
                receiver_volume_image=images.receiver_volume_image,
                sender_url=images.sender_url,
                sender_sha256=images.sender_sha256,
                pull_secret_name=images.pull_secret_name,
                rollout_after=[credentials, istio, images],
            ),
            child,
        )

        observability = Observability(
            f"{name}-observability",
            ObservabilityArgs(config, name_prefix=f"{pulumi.get_project()}-{pulumi.get_stack()}"),
            child,
        )

        self.user_arn = credentials.user_arn
        self.secret_names = {ns: CREDENTIALS_SECRET for ns in config.namespaces}
        self.gateways = {
            f"{g.namespace}/{g.name}": {
                "receiverDelivery": config.features.receiver_delivery,
                "installer": g.installer,
                "istioObjects": istio.object_names[f"{g.namespace}/{g.name}"],
            }
            for g in config.gateways
        }
        self.cloudwatch_console_url = cloudwatch_console_url(
            config.region, config.cloudwatch.namespace
        )
        self.istio_operator_yaml = gateway_settings.istio_operator_yaml
        self.observability = observability.outputs
        self.register_outputs(
            {
                "userArn": self.user_arn,
                "secretNames": self.secret_names,
                "gateways": self.gateways,
                "cloudwatchConsoleUrl": self.cloudwatch_console_url,
                "istioOperatorYaml": self.istio_operator_yaml,
                "observability": self.observability,
            }
        )

"""AcpwDeployment: the whole ACPW deployment as one reusable ComponentResource."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pulumi

from acpw import legacy
from acpw.config import AcpwConfig, ConfigError, config_warnings
from acpw.credentials import Credentials, CredentialsArgs
from acpw.gateway import GatewaySettings, GatewaySettingsArgs
from acpw.generations import (
    Generation,
    GenerationPlan,
    LiveGateway,
    RolloutSpec,
    generations_record,
    plan_generations,
)
from acpw.identity import WorkloadIdentity, WorkloadIdentityArgs
from acpw.images import WasmImages, WasmImagesArgs
from acpw.installers import Awaiter, gateways_awaited_by, installer_of
from acpw.istio_resources import (
    IstioResources,
    IstioResourcesArgs,
)
from acpw.live import read_live_gateways, wait_for
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
    by every child. Every object a gateway pod reads belongs to a generation (acpw/generations.py):
    older generations stay until no pod can run them.
    """

    user_arn: pulumi.Output[str]
    """ARN of the IAM user whose keys sign the CloudWatch calls (keyless modes: the gateways' role)."""
    secret_names: dict[str, str]
    """Per gateway namespace: the Secret holding the desired generation's keys."""
    gateways: dict[str, dict[str, object]]
    """Per gateway (``namespace/name``): receiver delivery, installer and Istio object names."""
    generation: str
    """Id of the desired generation (the gateway pods' ``acpw-rollout`` label)."""
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
        for warning in config_warnings(config):
            pulumi.log.warn(warning, resource=self)

        child = pulumi.ResourceOptions(parent=self)
        images = WasmImages(f"{name}-images", WasmImagesArgs(config=config), child)
        desired = RolloutSpec.from_config(
            config,
            sender_file_sha256=images.sender_file_sha256,
            receiver_file_sha256=images.receiver_file_sha256,
        )
        plan, live = self._plan(name, config, desired)
        if plan.legacy_gateways and not desired.uses_key:
            # Release 0.1.0's pods read the fixed-name key Secret: it must stay until they go.
            raise ConfigError(
                [
                    f"acpw:iam.credentials: '{config.iam.credentials}' while pods of release 0.1.0 "
                    f"still run on {', '.join(plan.legacy_gateways)}: deploy with 'accessKey' "
                    "until they are replaced, then switch"
                ]
            )
        legacy_namespaces = sorted({key.split("/", 1)[0] for key in plan.legacy_gateways})
        credentials = Credentials(
            f"{name}-credentials",
            CredentialsArgs(
                config=config,
                keys=plan.keys(desired),
                revoked=plan.revoked,
                legacy_namespaces=legacy_namespaces,
                keep_in_every_namespace=bool(plan.retained),
            ),
            child,
        )
        identity = self._identity(name, config, desired, plan, child)
        generation = Generation(
            desired, images.sender_url, images.sender_sha256, images.receiver_volume_image
        )
        generations = [generation, *plan.retained]
        istio = IstioResources(
            f"{name}-istio",
            IstioResourcesArgs(
                config=config,
                generations=generations,
                pull_secret_name=images.pull_secret_name,
                legacy_namespaces=legacy_namespaces,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[images]),
        )
        if plan.legacy_gateways:
            self._check_legacy(config, plan, live, images)
        record = pulumi.Output.all(
            images.sender_url, images.sender_sha256, images.receiver_volume_image
        ).apply(
            lambda values: generations_record(
                [Generation(desired, values[0], values[1], values[2]), *plan.retained],
                legacy=False,
            )
        )
        # The gateways roll only once everything their bootstrap reads is in place.
        gateway_settings = GatewaySettings(
            f"{name}-gateways",
            GatewaySettingsArgs(
                config=config,
                generation=generation,
                pull_secret=images.pull_secret_name,
                records={key: record for key in self._unawaited(config)},
                rollout_after=[credentials, istio, images, *([identity] if identity else [])],
                kubectl_image=images.kubectl_image,
            ),
            child,
        )

        observability = Observability(
            f"{name}-observability",
            ObservabilityArgs(config, name_prefix=f"{pulumi.get_project()}-{pulumi.get_stack()}"),
            child,
        )

        user_arn = credentials.user_arn or (identity.role_arn if identity else None)
        assert user_arn is not None  # a generation uses a key or a role
        self.user_arn = user_arn
        self.secret_names = credentials.secret_names
        self.generation = desired.id
        self.gateways = {
            g.key: {
                "receiverDelivery": config.features.receiver_delivery,
                "installer": g.installer,
                "istioObjects": istio.object_names.get(g.key, []),
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
                "generation": self.generation,
                "cloudwatchConsoleUrl": self.cloudwatch_console_url,
                "istioOperatorYaml": self.istio_operator_yaml,
                "observability": self.observability,
            }
        )

    @staticmethod
    def _identity(
        name: str,
        config: AcpwConfig,
        desired: RolloutSpec,
        plan: GenerationPlan,
        opts: pulumi.ResourceOptions,
    ) -> WorkloadIdentity | None:
        """The gateways' role, while the desired or a kept generation is keyless (acpw/identity.py)."""
        specs = [desired, *(kept.spec for kept in plan.retained)]
        modes = tuple(sorted({s.credentials for s in specs if not s.uses_key}))
        if not modes:
            return None
        iam = config.iam
        missing = [
            f"acpw:iam.{key}: pods still run a generation with iam.credentials '{mode}', "
            "which needs it until they are replaced: keep it set until the rollout is complete"
            for mode, key, value in (
                ("irsa", "oidcProviderArn", iam.oidc_provider_arn),
                ("podIdentity", "eksClusterName", iam.eks_cluster_name),
            )
            if mode in modes and value is None
        ]
        if missing:
            raise ConfigError(missing)
        return WorkloadIdentity(
            f"{name}-identity", WorkloadIdentityArgs(config=config, modes=modes), opts
        )

    @staticmethod
    def _check_legacy(
        config: AcpwConfig, plan: GenerationPlan, live: dict[str, LiveGateway], images: WasmImages
    ) -> None:
        """Release 0.1.0's objects are kept as rebuilt from today's config: they must match.

        Needs the resolved images, so waits for them; in a preview where the registry has not
        answered yet they are unknown, and the check is left to the update.
        """
        values = wait_for(
            pulumi.Output.all(images.receiver_volume_image, images.sender_url, images.sender_sha256)
        )
        if not values or values[0] is None or values[1] is None:
            return
        for key in plan.legacy_gateways:
            if live[key].legacy_hash:
                legacy.check_matches(
                    key, str(live[key].legacy_hash), config, (values[0], values[1], values[2])
                )

    @staticmethod
    def _unawaited(config: AcpwConfig) -> list[str]:
        """Gateways whose rollout nobody in ``pulumi up`` awaits (acpw/installers.py): the user
        rolls them (``istioctl install``)."""
        return [g.key for g in gateways_awaited_by(config, Awaiter.NOBODY)]

    def _plan(
        self, name: str, config: AcpwConfig, desired: RolloutSpec
    ) -> tuple[GenerationPlan, dict[str, LiveGateway]]:
        unawaited = set(self._unawaited(config))
        to_read = [
            g for g in config.gateways if config.iam.revoke_previous_key or g.key in unawaited
        ]
        # Through the component's own Kubernetes provider (opts ``providers``/``provider``).
        provider = self.get_provider("kubernetes:apps/v1:Deployment")
        live = (
            read_live_gateways(
                self,
                name,
                to_read,
                provider,
                deployment_of=lambda g: installer_of(config, g).deployment(g),
            )
            if to_read
            else {}
        )
        awaited = {g.key for g in config.gateways} - unawaited
        plan = plan_generations(
            desired,
            live,
            awaited=awaited,
            revoke_previous_key=config.iam.revoke_previous_key,
            disabled={g.key for g in config.gateways if not g.enabled},
        )
        if plan.problems:
            raise ConfigError(plan.problems)
        for warning in plan.warnings:
            pulumi.log.warn(warning, resource=self)
        return plan, live

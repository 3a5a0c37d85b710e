"""The ``acpw:*`` stack configuration: typed models, defaults and validation.

Everything here runs before any resource is registered, so that bad input stops the
program with one clear message per problem, naming the config key and what is allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from acpw.istio_versions import OLDEST_SUPPORTED, IstioFeatures, IstioVersion
from acpw.observability_config import CostField, ObservabilityField
from acpw.oci.errors import ImageFormatError
from acpw.oci.formats import check_wasm_module

PROJECT = "acpw"

NEWEST_KNOWN_MINOR = 30
"""Newest Istio minor release whose behaviour the program has been checked against."""

PUBLISHED_SENDER = "oci://ghcr.io/hatappi/aws-cloudwatch-proxy-wasm/oci-sender:v0.1.0"
PUBLISHED_RECEIVER_VOLUME = "ghcr.io/hatappi/aws-cloudwatch-proxy-wasm:v0.1.0"
PUBLISHED_MODULE_REGION = "ap-northeast-1"
"""v0.1.0 hard-codes ``monitoring.ap-northeast-1.amazonaws.com`` as Host and signing host."""

DEFAULT_GATEWAY = {
    "name": "istio-ingressgateway",
    "namespace": "istio-system",
    "selector": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
    "installer": "istioOperator",
}

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CW_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9 ._\-/#:]+$")
_PRINTABLE_ASCII_RE = re.compile(r"^[\x20-\x7e]+$")
_HOST_RE = re.compile(
    r"^(?=.{1,253}(:\d{1,5})?$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:\d{1,5})?$"
)
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_IMAGE_REF_RE = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9]+([._-][a-z0-9]+)*)*(:\d+)?"  # registry host
    r"(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)+"  # repository path
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"  # tag
    r"(@sha256:[0-9a-f]{64})?$"
)
_IAM_USER_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
_IAM_PATH_RE = re.compile(r"^/([\x21-\x7e]{0,510}/)?$")
_BOUNDARY_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)*:iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,1024}$")
_KMS_KEY_ARN_RE = re.compile(
    r"^arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:(key/[A-Za-z0-9-]+|alias/[\w/+=,.@-]+)$"
)
_VM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ConfigError(pulumi.RunError, ValueError):
    """Invalid stack configuration: one line per problem, each naming its config key.

    A ``pulumi.RunError``, so that the CLI's language host shows only the message, no traceback.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


def _label_problems(labels: Mapping[str, str]) -> list[str]:
    problems = []
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix))) or not (
            len(name) <= 63 and _LABEL_NAME_RE.match(name)
        ):
            problems.append(
                f"label key '{key}' is not a Kubernetes label name ([prefix/]name, name up to 63 of "
                "[A-Za-z0-9_.-] starting and ending alphanumeric)"
            )
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE_RE.match(value):
            problems.append(
                f"label value '{value}' of '{key}' is not a Kubernetes label value (up to 63 of "
                "[A-Za-z0-9_.-] starting and ending alphanumeric)"
            )
    return problems


class CloudWatchConfig(_Model):
    """``acpw:cloudwatch``: the receiver's configuration."""

    region: str | None = None
    """AWS region of the CloudWatch endpoint; defaults to ``aws:region``."""
    namespace: str = "AWSCloudWatchProxyWasm"
    """CloudWatch metric namespace (also the IAM policy's ``cloudwatch:namespace`` condition)."""
    metric_name: str = Field("RequestCount", alias="metricName")
    request_timeout_ms: int = Field(5000, alias="requestTimeoutMs", strict=True)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION_RE.match(value):
            raise ValueError(
                f"'{value}' is not an AWS region name like ap-northeast-1 or us-east-1"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not value or len(value) > 255:
            raise ValueError("must be 1 to 255 characters")
        if value.startswith("AWS/"):
            raise ValueError("must not start with 'AWS/' (reserved for AWS services)")
        if not _CW_NAMESPACE_RE.match(value):
            raise ValueError(
                "may contain only letters, digits, spaces and . _ - / # : (CloudWatch namespace rules)"
            )
        return value

    @field_validator("metric_name")
    @classmethod
    def _metric_name(cls, value: str) -> str:
        if not value or len(value) > 255 or not _PRINTABLE_ASCII_RE.match(value):
            raise ValueError("must be 1 to 255 printable ASCII characters")
        return value

    @field_validator("request_timeout_ms")
    @classmethod
    def _timeout(cls, value: int) -> int:
        if not 100 <= value <= 60000:
            raise ValueError(f"{value} is out of range: allowed 100 to 60000 (milliseconds)")
        return value


class GatewayConfig(_Model):
    """One entry of ``acpw:gateways``: an ingress gateway the modules run in."""

    name: str
    """The gateway's Deployment name (also its IstioOperator component name)."""
    namespace: str
    selector: dict[str, str]
    """Labels selecting the gateway's pods (WasmPlugin and EnvoyFilter selector)."""
    installer: Literal["istioOperator", "deploymentPatch"] = "istioOperator"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > 63 or not _DNS_LABEL_RE.match(value):
            raise ValueError(
                f"'{value}' is not a Kubernetes name (up to 63 lowercase letters, digits and '-')"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if len(value) > 63 or not _DNS_LABEL_RE.match(value):
            raise ValueError(
                f"'{value}' is not a Kubernetes namespace (up to 63 lowercase letters, digits and '-')"
            )
        return value

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError(
                "must not be empty: an empty selector would load the modules into every workload"
            )
        problems = _label_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return dict(sorted(value.items()))


class ImagesConfig(_Model):
    """``acpw:images``: where the Wasm modules come from and how they are pulled."""

    sender: str = PUBLISHED_SENDER
    """``oci://`` URL of the sender image (one layer holding ``plugin.wasm``, or a Wasm OCI artifact)."""
    sender_digest: str | None = Field(None, alias="senderDigest")
    """Manifest digest ``sha256:<64 hex>`` pinning the sender image."""
    receiver_volume: str = Field(PUBLISHED_RECEIVER_VOLUME, alias="receiverVolume")
    """Image whose working directory holds ``receiver.wasm``, copied by the init container."""
    receiver_volume_digest: str | None = Field(None, alias="receiverVolumeDigest")
    """Manifest digest pinning the receiver volume image."""
    sender_file: str | None = Field(None, alias="senderFile")
    """A local sender ``.wasm`` to push instead of copying ``sender`` (registry ``ecr`` only)."""
    receiver_file: str | None = Field(None, alias="receiverFile")
    """A local receiver ``.wasm`` to push as the volume image (registry ``ecr`` only)."""
    pull_policy: Literal["IfNotPresent", "Always"] = Field("IfNotPresent", alias="pullPolicy")
    registry: Literal["ghcr", "ecr"] = "ghcr"
    """``ghcr``: pull the source images as they are; ``ecr``: copy them into private ECR first."""
    ecr_keep_images: int = Field(10, alias="ecrKeepImages", strict=True, ge=1, le=1000)
    """ECR lifecycle policy: how many images each repository keeps."""
    ecr_kms_key_arn: str | None = Field(None, alias="ecrKmsKeyArn")
    """Encrypt the ECR repositories with this KMS key instead of AES256."""
    modules_honour_region: bool = Field(False, alias="modulesHonourRegion", strict=True)
    """Set true only for modules built so that they call the configured region (not v0.1.0)."""

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not value.startswith("oci://"):
            raise ValueError(
                f"'{value}' must be an oci:// image URL (other schemes are not supported)"
            )
        if not _IMAGE_REF_RE.match(value.removeprefix("oci://")):
            raise ValueError(f"'{value}' is not a valid image reference after oci://")
        return value

    @field_validator("receiver_volume")
    @classmethod
    def _receiver_volume(cls, value: str) -> str:
        if not _IMAGE_REF_RE.match(value):
            raise ValueError(
                f"'{value}' is not an image reference like registry/repository:tag (no scheme)"
            )
        return value

    @field_validator("ecr_kms_key_arn")
    @classmethod
    def _kms_key(cls, value: str | None) -> str | None:
        if value is not None and not _KMS_KEY_ARN_RE.match(value):
            raise ValueError(
                f"'{value}' is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id> or alias/<name>)"
            )
        return value

    @field_validator("sender_file", "receiver_file")
    @classmethod
    def _wasm_file(cls, value: str | None) -> str | None:
        if value is None:
            return value
        path = Path(value)
        if not path.is_file():
            raise ValueError(
                f"'{value}' is not a file (relative paths start at the Pulumi project directory)"
            )
        with path.open("rb") as handle:
            head = handle.read(8)
        try:
            check_wasm_module(head, f"'{value}'")
        except ImageFormatError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("sender_digest", "receiver_volume_digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST_RE.match(value):
            raise ValueError(
                f"'{value}' is not a digest: allowed is 'sha256:' and 64 lowercase hex"
            )
        return value


class IamConfig(_Model):
    """``acpw:iam``: the AWS identity whose static keys the receiver signs with."""

    user_name: str | None = Field(None, alias="userName")
    path: str = "/acpw/"
    permissions_boundary: str | None = Field(None, alias="permissionsBoundary")
    tags: dict[str, str] = Field(default_factory=dict)
    key_generation: int = Field(1, alias="keyGeneration", strict=True)
    """Bump to rotate the access key without downtime."""

    @field_validator("user_name")
    @classmethod
    def _user_name(cls, value: str | None) -> str | None:
        if value is not None and not _IAM_USER_RE.match(value):
            raise ValueError(
                f"'{value}' is not an IAM user name (1 to 64 of letters, digits and +=,.@_-)"
            )
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _IAM_PATH_RE.match(value):
            raise ValueError(f"'{value}' is not an IAM path: it must start and end with '/'")
        return value

    @field_validator("permissions_boundary")
    @classmethod
    def _boundary(cls, value: str | None) -> str | None:
        if value is not None and not _BOUNDARY_ARN_RE.match(value):
            raise ValueError(
                f"'{value}' is not an IAM policy ARN (arn:aws:iam::<account>:policy/...)"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag in value.items():
            if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
                raise ValueError(
                    f"tag key '{key}' must be 1 to 128 characters, not starting 'aws:'"
                )
            if len(tag) > 256:
                raise ValueError(f"tag '{key}' value must be at most 256 characters")
        return dict(sorted(value.items()))

    @field_validator("key_generation")
    @classmethod
    def _generation(cls, value: int) -> int:
        if value < 1:
            raise ValueError(
                f"{value} is not allowed: use an integer >= 1 (bump it to rotate the key)"
            )
        return value


class AcpwConfig(_Model):
    """The whole validated ``acpw:*`` configuration of one stack."""

    istio_version: IstioVersion = Field(alias="istioVersion")
    cloudwatch: CloudWatchConfig = Field(
        default_factory=lambda: CloudWatchConfig.model_validate({})
    )
    gateways: Annotated[list[GatewayConfig], Field(min_length=1)] = Field(
        default_factory=lambda: [GatewayConfig.model_validate(DEFAULT_GATEWAY)]
    )
    match_hosts: list[str] = Field(default_factory=list, alias="matchHosts")
    images: ImagesConfig = Field(default_factory=lambda: ImagesConfig.model_validate({}))
    iam: IamConfig = Field(default_factory=lambda: IamConfig.model_validate({}))
    fail_strategy: Literal["open", "closed"] = Field("open", alias="failStrategy")
    receiver_vm_id: str = Field("aws-cloudwatch-proxy-wasm-receiver", alias="receiverVmId")
    # Last, so that their checks see the fields above (acpw/observability_config.py).
    observability: ObservabilityField = Field(default_factory=dict, validate_default=True)
    cost: CostField = Field(default_factory=dict, validate_default=True)

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    @field_validator("istio_version", mode="before")
    @classmethod
    def _istio_version(cls, value: Any) -> IstioVersion:
        if not isinstance(value, str):
            raise ValueError(
                f'{value!r} must be a string like "1.22" or "1.22.3" (quote it in YAML: 1.20 would read as 1.2)'
            )
        version = IstioVersion.parse(value)
        oldest = IstioVersion(OLDEST_SUPPORTED[1])
        if version < oldest:
            hint = ""
            if version.patch is None and version.minor < 10:
                hint = f" (if you wrote 1.{version.minor}0 unquoted, YAML read it as a number: quote it)"
            raise ValueError(
                f"Istio {version} is too old: supported are 1.{OLDEST_SUPPORTED[1]} to 1.{NEWEST_KNOWN_MINOR} "
                f"(WasmPlugin exists from 1.12){hint}"
            )
        if version.minor > NEWEST_KNOWN_MINOR:
            raise ValueError(
                f"Istio {version} is unknown to this program: supported are 1.{OLDEST_SUPPORTED[1]} to "
                f"1.{NEWEST_KNOWN_MINOR}"
            )
        return version

    @field_validator("match_hosts")
    @classmethod
    def _match_hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not isinstance(host, str) or not _HOST_RE.match(host):
                raise ValueError(
                    f"'{host}' is not an exact :authority value (lowercase hostname, optional :port; "
                    "no wildcards, schemes or paths)"
                )
        duplicates = sorted({h for h in value if value.count(h) > 1})
        if duplicates:
            raise ValueError(f"duplicate hosts: {', '.join(duplicates)}")
        return value

    @field_validator("receiver_vm_id")
    @classmethod
    def _vm_id(cls, value: str) -> str:
        if not _VM_ID_RE.match(value):
            raise ValueError(
                f"'{value}' is not a VM id: 1 to 128 of letters, digits and _ . - (starting alphanumeric)"
            )
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> AcpwConfig:
        problems: list[tuple[str, str]] = []
        seen_names: dict[tuple[str, str], int] = {}
        seen_selectors: dict[tuple[str, str], int] = {}
        for index, gateway in enumerate(self.gateways):
            key = (gateway.namespace, gateway.name)
            if key in seen_names:
                problems.append(
                    (
                        f"gateways[{index}]",
                        f"duplicate gateway {gateway.namespace}/{gateway.name} "
                        f"(also gateways[{seen_names[key]}])",
                    )
                )
            seen_names.setdefault(key, index)
            selector_key = (gateway.namespace, json.dumps(gateway.selector, sort_keys=True))
            if selector_key in seen_selectors:
                problems.append(
                    (
                        f"gateways[{index}].selector",
                        f"same selector as gateways[{seen_selectors[selector_key]}] in namespace "
                        f"{gateway.namespace}: the modules would load twice into the same pods",
                    )
                )
            seen_selectors.setdefault(selector_key, index)

        if not self.images.modules_honour_region and self.cloudwatch.region not in (
            None,
            PUBLISHED_MODULE_REGION,
        ):
            problems.append(
                (
                    "cloudwatch.region",
                    f"'{self.cloudwatch.region}' cannot work with the published v0.1.0 modules, which "
                    f"always call monitoring.{PUBLISHED_MODULE_REGION}.amazonaws.com: use "
                    f"{PUBLISHED_MODULE_REGION}, or set acpw:images.modulesHonourRegion: true for modules "
                    "built to honour the region",
                )
            )
        if self.images.registry == "ecr" and not self.features.wasm_pull_secret:
            problems.append(
                (
                    "images.registry",
                    f"'ecr' is a private registry, and Istio {self.istio_version} ignores WasmPlugin pull "
                    "secrets (they work from 1.14): use 'ghcr' (public images) or Istio 1.14 or later",
                )
            )
        local_files = [
            name
            for name, value in (
                ("senderFile", self.images.sender_file),
                ("receiverFile", self.images.receiver_file),
            )
            if value
        ]
        if self.images.ecr_kms_key_arn and self.images.registry != "ecr":
            problems.append(
                (
                    "images.ecrKmsKeyArn",
                    "only applies to registry 'ecr': set acpw:images.registry: ecr",
                )
            )
        if local_files and self.images.registry != "ecr":
            problems.append(
                (
                    f"images.{local_files[0]}",
                    "a local .wasm file needs a registry to be pushed to: set acpw:images.registry: ecr",
                )
            )
        if problems:
            # Raised as one ValueError per model; _format_errors turns the location into the key.
            raise ValueError(json.dumps(problems))
        return self

    @property
    def features(self) -> IstioFeatures:
        return IstioFeatures(self.istio_version)

    @property
    def region(self) -> str:
        """The resolved CloudWatch region (set by :func:`load_config`)."""
        assert self.cloudwatch.region is not None
        return self.cloudwatch.region

    @property
    def namespaces(self) -> list[str]:
        """Gateway namespaces, in first-seen order."""
        return list(dict.fromkeys(g.namespace for g in self.gateways))

    def warnings(self) -> list[str]:
        """Settings that cannot be honoured on this Istio version, worded for the preview output."""
        found = []
        features = self.features
        if not features.wasm_fail_strategy:
            # istiod treats an absent failStrategy as FAIL_CLOSE: a sender image that cannot be
            # fetched makes the gateway refuse traffic, whatever this setting says.
            found.append(
                f"acpw:failStrategy: '{self.fail_strategy}' cannot be honoured on Istio {self.istio_version}: "
                "WasmPlugin.failStrategy exists from 1.19, so the sender fails closed (a sender image "
                "that cannot be fetched blocks traffic through the gateway); pin images.senderDigest"
            )
        if (
            features.wasm_pull_secret
            and not features.wasm_distinct_pull_secrets
            and self.images.registry == "ecr"
            and len(self.gateways) > 1
        ):
            found.append(
                f"acpw:images.registry: Istio {self.istio_version} mixes up WasmPlugins with different "
                "pull secrets (fixed in 1.14.3): upgrade before relying on more than one gateway"
            )
        if not features.in_cluster_operator and any(
            g.installer == "istioOperator" for g in self.gateways
        ):
            found.append(
                f"acpw:gateways: Istio {self.istio_version} has no in-cluster operator: the IstioOperator "
                "is only exported (stack output istioOperatorYaml) for `istioctl install -f`"
            )
        return found


def _location(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into the user's key, e.g. ``acpw:gateways[1].selector``."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            alias = _ALIASES.get(part, part)
            key += ("." if key else "") + alias
    return f"{PROJECT}:{key}" if key else PROJECT


_ALIASES = {
    "istio_version": "istioVersion",
    "match_hosts": "matchHosts",
    "fail_strategy": "failStrategy",
    "receiver_vm_id": "receiverVmId",
    "metric_name": "metricName",
    "request_timeout_ms": "requestTimeoutMs",
    "sender_digest": "senderDigest",
    "receiver_volume": "receiverVolume",
    "receiver_volume_digest": "receiverVolumeDigest",
    "sender_file": "senderFile",
    "receiver_file": "receiverFile",
    "pull_policy": "pullPolicy",
    "ecr_keep_images": "ecrKeepImages",
    "ecr_kms_key_arn": "ecrKmsKeyArn",
    "modules_honour_region": "modulesHonourRegion",
    "user_name": "userName",
    "permissions_boundary": "permissionsBoundary",
    "key_generation": "keyGeneration",
}


def _format_errors(error: ValidationError) -> list[str]:
    problems: list[str] = []
    for item in error.errors():
        loc = item["loc"]
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "value_error" and message.startswith("[["):
            # Cross-field problems found by AcpwConfig._cross_checks, each with its own key.
            problems.extend(f"{PROJECT}:{key}: {text}" for key, text in json.loads(message))
            continue
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "missing":
            message = "required"
        elif item["type"] == "literal_error":
            message = (
                f"{item['input']!r} is not allowed: {item['msg'].removeprefix('Input should be ')}"
            )
        problems.append(f"{_location(loc)}: {message}")
    return problems


def load_config(
    raw: Mapping[str, Any], *, project: str, stack: str, aws_region: str | None
) -> AcpwConfig:
    """Validate raw ``acpw:*`` values (keys without the ``acpw:`` prefix) into an :class:`AcpwConfig`.

    ``aws_region`` is the stack's ``aws:region``, the default of ``acpw:cloudwatch.region``.
    Raises :class:`ConfigError` listing every problem.
    """
    data = dict(raw)
    cloudwatch = data.get("cloudwatch")
    if cloudwatch is None or isinstance(cloudwatch, dict):
        cloudwatch = dict(cloudwatch or {})
        if cloudwatch.get("region") is None:
            if aws_region is None:
                raise ConfigError(
                    [f"{PROJECT}:cloudwatch.region: required when aws:region is not set"]
                )
            cloudwatch["region"] = aws_region
        data["cloudwatch"] = cloudwatch
    iam = data.get("iam")
    if iam is None or isinstance(iam, dict):
        iam = dict(iam or {})
        iam.setdefault("userName", f"{project}-{stack}"[:64])
        data["iam"] = iam
    try:
        return AcpwConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error)) from None


CONFIG_KEYS = (
    "istioVersion",
    "cloudwatch",
    "gateways",
    "matchHosts",
    "images",
    "iam",
    "failStrategy",
    "receiverVmId",
    "observability",
    "cost",
)
_STRING_KEYS = {"istioVersion", "failStrategy", "receiverVmId"}


def parse_raw_values(values: Mapping[str, str]) -> dict[str, Any]:
    """Decode the CLI's string config values (``acpw:`` prefix stripped): objects and lists are JSON."""
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for key, text in values.items():
        if key in _STRING_KEYS:
            raw[key] = text
            continue
        try:
            raw[key] = json.loads(text)
        except (TypeError, json.JSONDecodeError):
            problems.append(
                f"{PROJECT}:{key}: must be a structured value (object or list), got {text!r}"
            )
    if problems:
        raise ConfigError(problems)
    return raw


def read_stack_config() -> dict[str, Any]:
    """All ``acpw:*`` values of the running stack, decoded (unknown keys kept, so they are refused)."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    values = {
        key.split(":", 1)[1]: runtime_config.get_config(key)
        for key in sorted(keys)
        if key.startswith(f"{PROJECT}:")
    }
    return parse_raw_values(values)

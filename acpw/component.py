"""``AcpwDeployment`` as a Pulumi component provider: the typed interface every language sees.

``provider/`` serves :class:`AcpwProvider`; the schema (``provider/schema.json``) is inferred
from the annotations of :class:`AcpwDeployment` and the input TypedDicts of
``acpw/component_inputs.py`` (generated from the config models by ``make docs``) by
``pulumi.provider.experimental.analyzer.Analyzer``, so ``pulumi package add <repo>/provider``
generates a typed SDK in TypeScript, Go, C#, Java, Python and YAML.

The analyzer reads real annotations, so this module must not use ``from __future__ import
annotations``. The TypedDicts describe the stack config's shape and nothing more: every rule
stays in the one config model, :func:`acpw.config.load_config`. The inputs are turned back into
the raw camelCase dict the stack config would give, validated by it, and the Python
:class:`acpw.deployment.AcpwDeployment` is built from the result, so a YAML or TypeScript user
gets the same ``ConfigError`` text as ``pulumi config set`` does.

Stable interface (see CHANGELOG.md): the type token ``acpw:index:AcpwDeployment``, the input and
output names and the type names. Adding an optional input is a minor change; renaming or
removing one, or changing a type, is a breaking change. ``tests/test_component_provider.py``
compares the inferred schema with the committed snapshot, so every change is a visible diff.
"""

import json
import re
import sys
import typing
from typing import Any, NotRequired, TypedDict

import pulumi
from pulumi.errors import InputPropertiesError, InputPropertyErrorDetails
from pulumi.output import Unknown
from pulumi.provider import ConstructResult
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.util import camel_case
from pulumi.runtime.sync_await import _sync_await

from acpw import deployment
from acpw.component_inputs import (
    AcpwDeploymentArgs,
)
from acpw.config import ConfigError, load_config
from acpw.live import wait_for

PACKAGE = "acpw"
"""The provider's package name: the first part of every type token."""
VERSION = "0.2.0"
"""The one version number: pyproject.toml, the plugin and the schema (a test checks they agree)."""
TYPE_TOKEN = f"{PACKAGE}:index:AcpwDeployment"
"""Type token of the component, the same from Python and from a generated SDK."""


# Output types keep the key names of the Python component's dicts (which are its stack outputs),
# so that the provider passes them through unchanged: hence the camelCase attribute names.
class GatewayInfo(TypedDict):
    """What the component did for one gateway."""

    receiverDelivery: str
    """How the receiver is delivered: ``envoyFilterBootstrapPatch`` or ``bootstrapOverride``."""
    installer: str
    """``istioOperator`` or ``deploymentPatch``."""
    istioObjects: list[str]
    """Names of the Istio objects created for the gateway."""


class ObservabilityInfo(TypedDict):
    """The dashboard, alarms and cost estimate."""

    dashboardName: NotRequired[str]
    """Name of the dashboard (absent when ``observability.dashboard`` is false)."""
    dashboardUrl: NotRequired[str]
    """Console link to the dashboard."""
    alarmTopicArn: NotRequired[str]
    """SNS topic the alarms (and the budget) notify."""
    alarms: list[str]
    """Names of the alarms."""
    costEstimate: dict[str, str]
    """Monthly CloudWatch estimate: amounts as strings (``monthlyUsd``, ``customMetrics``, ...)."""


class AcpwDeployment(pulumi.ComponentResource):
    """aws-cloudwatch-proxy-wasm on Istio ingress gateways: IAM identity, key Secrets, Wasm images, Istio objects, gateway settings, dashboard and alarms. The inputs are validated with the same rules and messages as the ``acpw:*`` stack config; AWS and Kubernetes providers are taken from the resource options (``providers``)."""

    user_arn: pulumi.Output[str]
    """ARN of the IAM user whose keys sign the CloudWatch calls (keyless modes: the gateways' role)."""
    secret_names: pulumi.Output[dict[str, str]]
    """Per gateway namespace: the Secret holding the desired generation's keys."""
    gateways: pulumi.Output[dict[str, GatewayInfo]]
    """Per gateway (``namespace/name``): receiver delivery, installer and Istio object names."""
    generation: pulumi.Output[str]
    """Id of the desired generation (the gateway pods' ``acpw-rollout`` label)."""
    cloudwatch_console_url: pulumi.Output[str]
    """Console link to the metrics of the configured namespace."""
    istio_operator_yaml: pulumi.Output[str] | None
    """IstioOperator for ``istioctl install -f`` when a gateway uses ``installer: istioOperator``."""
    observability: pulumi.Output[ObservabilityInfo]
    """Dashboard name and URL, alarm names and topic, monthly cost estimate."""

    def __new__(  # type: ignore[misc]
        cls,
        name: str,
        args: AcpwDeploymentArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> deployment.AcpwDeployment:
        """The Python component itself, built from the validated inputs: one resource, one token.

        Returning an instance of another class skips ``__init__``; the provider only reads the
        URN and the output attributes, which the Python component has under the same names.
        """
        secrets: set[str] = set()
        try:
            config = load_config(
                raw_config(args, secrets),
                project=pulumi.get_project(),
                stack=pulumi.get_stack(),
                aws_region=pulumi.Config("aws").get("region"),
            )
        except ConfigError as error:
            raise error.hiding(secrets) from None
        return deployment.AcpwDeployment(name, deployment.AcpwDeploymentArgs(config=config), opts)

    def __init__(
        self,
        name: str,
        args: AcpwDeploymentArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:  # pragma: no cover - never called: __new__ returns the Python component
        raise AssertionError("unreachable")


_NUMBER_RE = re.compile(r"^[0-9]+$")


def raw_config(
    args: AcpwDeploymentArgs | dict[str, Any], secrets: set[str] | None = None
) -> dict[str, Any]:
    """The Python inputs (snake_case keys) as the raw ``acpw:*`` dict the stack config gives.

    Inputs that are outputs of other resources are waited for, at any depth: the config decides
    which resources exist, so it must be known; an unknown value (in a preview) is a
    ``ConfigError``.
    """
    plain = resolved({k: v for k, v in dict(args).items() if v is not None}, secrets)
    return _config_shape(plain, AcpwDeploymentArgs, rename=True)


def wire_config(inputs: dict[str, Any], secrets: set[str] | None = None) -> dict[str, Any]:
    """The inputs of a ``Construct`` call (schema names: camelCase) as the raw ``acpw:*`` dict.

    Every name is kept, known or not, so that :func:`acpw.config.load_config` refuses a
    misspelt one with the allowed names; the SDK's own input mapping
    (``ComponentProvider.map_inputs``) would drop it, and would turn an object input that
    arrives as an output (a secret, a value with dependencies) into ``{}``. ``secrets`` collects
    the keys whose values arrived as secrets.
    """
    return _config_shape(resolved(inputs, secrets), AcpwDeploymentArgs, rename=False)


def resolved(inputs: dict[str, Any], secrets: set[str] | None = None) -> dict[str, Any]:
    """``inputs`` with every output, at any depth, replaced by its value.

    The provider host passes an input that is unknown in a preview as ``pulumi.output.Unknown``
    (or inside an unknown output), and one with dependencies or secrets as an output. Anything
    unknown is a ``ConfigError`` naming each key it is at. ``secrets``, when given, collects the
    keys (``iam``, ``gateways[0].selector``) whose values were secret outputs.
    """
    unknown: list[str] = []

    def plain(value: Any, key: str) -> Any:
        if isinstance(value, pulumi.Output):
            if not _sync_await(value.is_known()):
                unknown.append(key)
                return None
            if secrets is not None and _sync_await(value.is_secret()):
                secrets.add(key)
            value = wait_for(value)
        if isinstance(value, Unknown):
            unknown.append(key)
            return None
        if isinstance(value, dict):
            return {k: plain(v, f"{key}.{camel_case(k)}") for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v, f"{key}[{i}]") for i, v in enumerate(value)]
        return value

    result = {key: plain(value, camel_case(key)) for key, value in inputs.items()}
    if unknown:
        raise ConfigError(
            [
                f"acpw:{key}: is unknown until another resource is created; it decides which "
                "resources exist, so it must be known in a preview (pass a plain value)"
                for key in unknown
            ]
        )
    return result


def _config_shape(value: dict[str, Any], shape: type, *, rename: bool) -> dict[str, Any]:
    """``value`` in the config's shape, following the TypedDict ``shape``.

    With ``rename``, the Python (snake_case) keys of TypedDicts become the config's camelCase
    names; user maps (``selector``, ``tags``) keep theirs, and so does a key ``shape`` does not
    have, for the config to refuse. Integers arrive as floats from the engine (the provider's
    conversion keeps the float): whole ones become ints, others stay floats for the config's
    "valid integer" message.
    """
    hints = dict(shape.__annotations__)
    if not rename:
        hints = {camel_case(name): hint for name, hint in hints.items()}
    result: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        field = _field_type(hints[key]) if key in hints else None
        if key in ("max_surge", "maxSurge") and isinstance(item, str) and _NUMBER_RE.match(item):
            item = int(item)  # the schema's string holds a count or a percentage
        elif field is int and isinstance(item, float) and item.is_integer():
            item = int(item)  # every number crosses the wire as a double
        elif field is not None and typing.is_typeddict(field) and isinstance(item, dict):
            item = _config_shape(item, field, rename=rename)
        elif (
            field is not None
            and typing.get_origin(field) is list
            and typing.is_typeddict(typing.get_args(field)[0])
            and isinstance(item, list)
        ):
            inner = typing.get_args(field)[0]
            item = [
                _config_shape(i, inner, rename=rename) if isinstance(i, dict) else i for i in item
            ]
        result[camel_case(key) if rename and key in hints else key] = item
    return result


def _field_type(annotation: Any) -> Any:
    """``T`` of ``NotRequired[pulumi.Input[T]]`` (``pulumi.Input`` is a union with ``T``)."""
    while typing.get_origin(annotation) in (NotRequired, typing.Required):
        annotation = typing.get_args(annotation)[0]
    for member in typing.get_args(annotation) or (annotation,):
        origin = typing.get_origin(member)
        if origin is not None and origin.__name__ in ("Awaitable", "Output"):
            continue
        if isinstance(member, typing.ForwardRef):
            continue
        return member
    return annotation


class AcpwProvider(ComponentProvider):
    """The component provider: the SDK's schema inference, with a ``construct`` of its own.

    ``ComponentProvider.construct`` maps the inputs by the schema first (pulumi Python SDK
    3.272.0, pulumi/provider/experimental/component.py ``map_input_properties``): a name not in
    the schema is skipped, and an object input that is an output becomes ``{}``, so a typo or a
    ``fn::secret`` object would silently give the defaults. Here every input reaches
    :func:`acpw.config.load_config` as sent, outputs resolved; its problems are raised as
    ``InputPropertiesError``, which the host sends as INVALID_ARGUMENT with the message and one
    detail per key (pulumi/provider/server.py ``create_grpc_invalid_properties_status``).
    """

    def __init__(self) -> None:
        super().__init__([AcpwDeployment], PACKAGE, None, VERSION)

    def construct(
        self,
        name: str,
        resource_type: str,
        inputs: pulumi.Inputs,
        options: pulumi.ResourceOptions | None = None,
    ) -> ConstructResult:
        self.validate_resource_type(PACKAGE, resource_type)
        secrets: set[str] = set()
        try:
            config = load_config(
                wire_config(dict(inputs), secrets),
                project=pulumi.get_project(),
                stack=pulumi.get_stack(),
                aws_region=pulumi.Config("aws").get("region"),
            )
        except ConfigError as error:
            shown = error.hiding(secrets)
            # No chaining: the original's text may quote a secret value.
            raise InputPropertiesError(str(shown), _details(shown)) from None
        component = deployment.AcpwDeployment(
            name, deployment.AcpwDeploymentArgs(config=config), options
        )
        state = self.get_state(component, self._component_defs[TYPE_TOKEN.rsplit(":", 1)[1]])
        return ConstructResult(component.urn, state)


def _details(error: ConfigError) -> list[InputPropertyErrorDetails]:
    """One detail per problem: its key (without ``acpw:``) and the reason."""
    details: list[InputPropertyErrorDetails] = []
    for problem in error.problems:
        key, _, reason = problem.removeprefix("acpw:").partition(": ")
        details.append({"property_path": key, "reason": reason or problem})
    return details


def inferred_schema() -> dict[str, Any]:
    """The schema the provider serves (``GetSchema``), inferred from this module's annotations."""
    provider = AcpwProvider()
    assert provider.schema is not None
    schema: dict[str, Any] = json.loads(provider.schema)
    return schema


def serve() -> None:
    """Run the component provider (the ``provider/`` plugin's entry point)."""
    from pulumi.provider import main

    main(AcpwProvider(), sys.argv[1:])

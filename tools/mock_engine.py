"""The Pulumi mock engine used by the offline render and the tests.

Only the cloud and cluster APIs are mocked: the program itself runs for real. Every
registration is recorded with its type, name, inputs, parent and dependencies. Values only
the cloud knows come back as clearly marked ``[unknown: ...]`` placeholders.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

ACCOUNT = "unknown-aws-account-id"
"""Marked placeholder that still fits where a hostname or ARN needs one (ECR registry host)."""

SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key
DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


@dataclass
class Registration:
    """One resource registration as the engine saw it."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    custom: bool
    provider: str

    def plain_inputs(self) -> dict[str, Any]:
        """Inputs with secrets unwrapped (for assertions only; never print these)."""
        return unwrap_secrets(self.inputs)


def unwrap_secrets(value: Any) -> Any:
    if is_secret(value):
        return unwrap_secrets(value["value"])
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def _region_of(args: pulumi_mocks.MockResourceArgs) -> str:
    return str(pulumi.Config("aws").get("region") or "[unknown: region]")


def _arn(service: str, resource: str, region: str = "") -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def _iam_user(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("name", args.name)
    path = args.inputs.get("path", "/")
    return {"arn": _arn("iam", f"user{path}{name}"), "uniqueId": "[unknown: user id]"}


def _access_key(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    return {
        "secret": "[unknown: secret access key]",
        "sesSmtpPasswordV4": "[unknown: smtp password]",
        "status": args.inputs.get("status", "Active"),
        "createDate": "[unknown: creation date]",
    }


def _ecr_repository(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("name", args.name)
    region = _region_of(args)
    return {
        "arn": _arn("ecr", f"repository/{name}", region),
        "registryId": ACCOUNT,
        "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{name}",
    }


def _sns_topic(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("name", args.name)
    return {"arn": _arn("sns", name, _region_of(args))}


def _dynamic(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    # Dynamic providers in acpw/oci report the pushed manifest digest as `digest`.
    # When the component already knows it (a pinned source, a local file) it passes
    # `expected_digest`; otherwise only the registry knows it.
    expected = args.inputs.get("expected_digest")
    source = args.inputs.get("source", args.name)
    return {"digest": expected or f"[unknown: manifest digest of {source}]"}


COMPUTED_OUTPUTS: dict[str, Callable[[pulumi_mocks.MockResourceArgs], dict[str, Any]]] = {
    "aws:iam/user:User": _iam_user,
    "aws:iam/accessKey:AccessKey": _access_key,
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:sns/topic:Topic": _sns_topic,
    DYNAMIC_TYPE: _dynamic,
}
"""Per resource type: the outputs a real provider would compute (beyond echoing inputs)."""

INVOKE_RESULTS: dict[str, Callable[[pulumi_mocks.MockCallArgs], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _args: {
        "accountId": ACCOUNT,
        "arn": _arn("iam", "user/[unknown: caller]"),
        "userId": "[unknown: caller id]",
    },
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": lambda _args: {
        "authorizationToken": "[unknown: registry token]",
        "password": "[unknown: registry password]",
        "userName": "AWS",
        "proxyEndpoint": "[unknown: registry endpoint]",
        "expiresAt": "[unknown: expiry]",
    },
}
"""Per invoke token: what the cloud would answer."""


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs as outputs, add what the cloud would compute, and record nothing secret."""

    def new_resource(
        self, args: pulumi_mocks.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        outputs.pop("__provider", None)
        computed = COMPUTED_OUTPUTS.get(args.typ)
        if computed:
            outputs.update(computed(args))
        resource_id = (
            f"{args.name}-id"
            if args.typ != "aws:iam/accessKey:AccessKey"
            else ("[unknown: access key id]")
        )
        return resource_id, outputs

    def call(
        self, args: pulumi_mocks.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        result = INVOKE_RESULTS.get(args.token)
        if result is None:
            raise NotImplementedError(f"no mock result for invoke {args.token}")
        return result(args), []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that also keeps each registration's parent and dependencies."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            pulumi_mocks._ensure_event_loop()
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    inputs=rpc.deserialize_properties(request.object),
                    parent=request.parent,
                    dependencies=sorted(request.dependencies),
                    custom=bool(request.custom),
                    provider=request.provider,
                )
            )
        return response


def config_values(project: str, values: dict[str, Any]) -> dict[str, str]:
    """Encode config the way the CLI hands it to a program: strings, JSON for structured values."""
    encoded = {}
    for key, value in values.items():
        full_key = key if ":" in key else f"{project}:{key}"
        encoded[full_key] = value if isinstance(value, str) else json.dumps(value)
    return encoded


def install(
    project: str, stack: str, config: dict[str, str], *, preview: bool = False
) -> RecordingMonitor:
    """Point the Pulumi runtime at a fresh recording mock engine with this stack config."""
    monitor = RecordingMonitor(RecordingMocks())
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(
        RecordingMocks(),
        project=project,
        stack=stack,
        preview=preview,
        monitor=monitor,
        logger=logging.getLogger("acpw.render"),
    )
    return monitor

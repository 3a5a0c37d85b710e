"""Mocks for unit tests of programs that use :class:`acpw.deployment.AcpwDeployment`.

The component reads what only the cloud computes: ARNs, registry ids, an ECR rule's region, the
caller's account, a live gateway Deployment. Pulumi's usual echo mocks (``new_resource``
returning the inputs) leave those ``None``, and the component fails on them. Use these mocks,
or subclass them and call ``super()`` for the types you do not answer yourself::

    import pulumi
    from acpw.testing import AcpwMocks

    pulumi.runtime.set_mocks(AcpwMocks(), project="platform", stack="test", preview=False)

    acpw = ...  # import the program or build the component here, then assert on its outputs

    @pulumi.runtime.test
    def test_user_path():
        def check(arn):
            assert ":user/acpw/" in arn

        return acpw.user_arn.apply(check)

Values the cloud alone knows are marked ``[unknown: ...]``; the account id is
:data:`ACCOUNT`. The program's offline render answers the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs

ACCOUNT = "unknown-aws-account-id"
"""Marked placeholder that still fits where a hostname or ARN needs one (ECR registry host)."""

REGISTRY_IMAGE_INVOKE = "docker:index/getRegistryImage:getRegistryImage"
"""pulumi-docker's invoke reading a tag's digest from the registry API."""


def _region_of(args: MockResourceArgs) -> str:
    return str(pulumi.Config("aws").get("region") or "[unknown: region]")


def _arn(service: str, resource: str, region: str = "") -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def _iam_user(args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("name", args.name)
    path = args.inputs.get("path", "/")
    return {"arn": _arn("iam", f"user{path}{name}"), "uniqueId": "[unknown: user id]"}


def _access_key(args: MockResourceArgs) -> dict[str, Any]:
    return {
        "secret": "[unknown: secret access key]",
        "sesSmtpPasswordV4": "[unknown: smtp password]",
        "status": args.inputs.get("status", "Active"),
        "createDate": "[unknown: creation date]",
    }


def _ecr_repository(args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("name", args.name)
    region = _region_of(args)
    return {
        "arn": _arn("ecr", f"repository/{name}", region),
        "registryId": ACCOUNT,
        "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{name}",
    }


def _iam_role(args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("name", args.name)
    path = args.inputs.get("path", "/")
    return {"arn": _arn("iam", f"role{path}{name}"), "uniqueId": f"AROA{name.upper()[:16]}"}


def _sns_topic(args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("name", args.name)
    return {"arn": _arn("sns", name, _region_of(args))}


def _pull_through_rule(args: MockResourceArgs) -> dict[str, Any]:
    return {"registryId": ACCOUNT, "region": args.inputs.get("region") or _region_of(args)}


def _registry_image(args: MockCallArgs) -> dict[str, Any]:
    # pulumi-docker's getRegistryImage: the digest the tag points to, known only to the registry.
    name = args.args.get("name", "")
    digest = name.split("@", 1)[1] if "@" in name else f"[unknown: manifest digest of {name}]"
    return {"id": digest, "name": name, "sha256Digest": digest}


COMPUTED_OUTPUTS: dict[str, Callable[[MockResourceArgs], dict[str, Any]]] = {
    "aws:iam/user:User": _iam_user,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/accessKey:AccessKey": _access_key,
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:sns/topic:Topic": _sns_topic,
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule": _pull_through_rule,
}
"""Per resource type: the outputs a real provider would compute (beyond echoing inputs)."""

INVOKE_RESULTS: dict[str, Callable[[MockCallArgs], dict[str, Any]]] = {
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
    REGISTRY_IMAGE_INVOKE: _registry_image,
}
"""Per invoke token: what the cloud would answer."""


def fresh_gateway(object_id: str) -> dict[str, Any]:
    """A live gateway Deployment before ACPW: one ready replica, nothing of ours on it."""
    namespace, name = object_id.split("/", 1)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "generation": 1},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": name}}}},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1,
        },
    }


class AcpwMocks(pulumi.runtime.Mocks):
    """Echo inputs as outputs, add what the cloud would compute, answer the component's invokes.

    A read (``get``) of a gateway Deployment is answered by ``live`` (``namespace/name`` to the
    object as the Kubernetes API returns it), else by a gateway without ACPW on it.
    """

    def __init__(self, live: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.live = live or {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.resource_id and args.typ == "kubernetes:apps/v1:Deployment":
            found = self.live.get(args.resource_id) or fresh_gateway(args.resource_id)
            return args.resource_id, json.loads(json.dumps(found))
        outputs = dict(args.inputs)
        outputs.pop("__provider", None)
        outputs.update(self.computed(args))
        return self.resource_id(args), outputs

    def computed(self, args: MockResourceArgs) -> dict[str, Any]:
        """What the provider computes for ``args`` (``{}`` for a type with nothing computed)."""
        computed = COMPUTED_OUTPUTS.get(args.typ)
        return computed(args) if computed else {}

    def resource_id(self, args: MockResourceArgs) -> str:
        if args.typ == "aws:iam/accessKey:AccessKey":
            return "[unknown: access key id]"
        return f"{args.name}-id"

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        result = INVOKE_RESULTS.get(args.token)
        if result is None:
            raise NotImplementedError(f"no mock result for invoke {args.token}")
        return result(args), []

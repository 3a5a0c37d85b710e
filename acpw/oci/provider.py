"""What is left of the 0.2.0 dynamic providers: enough for an upgraded stack to delete them.

acpw 0.2.0 registered ``ImagePush`` and ``ImageDigest`` resources (type
``pulumi-python:dynamic:Resource``). A dynamic provider is stored in the stack's state pickled by
reference, as this module and a class name (``dill.dumps``, pulumi/pulumi
sdk/python/lib/pulumi/dynamic/dynamic.py ``serialize_provider``); the engine deletes such a
resource by unpickling that reference in the consuming project's environment and calling
``delete`` (sdk/python/lib/pulumi/dynamic/__main__.py ``Delete``). So the module and the two class
names must stay importable, with no other import, until every 0.2.0 stack has been upgraded:
they are kept until 0.4.0 (README, "Upgrading from 0.2.0").

- ``delete`` does nothing. An image that 0.2.0 pushed stays in its ECR repository; the
  repository itself is deleted in the same update (it had ``force_delete``), which removes it.
  ``ImageDigest`` only ever read.
- ``read`` (``pulumi refresh``) returns the state as it is.
- ``check``, ``create``, ``update`` and ``diff`` refuse: nothing registers these resources
  any more, so reaching them means a program still uses the 0.2.0 API.
"""

from __future__ import annotations

from typing import Any, NoReturn

from pulumi.dynamic import ReadResult, ResourceProvider

KEPT_UNTIL = "0.4.0"
"""The release that drops this module (README, "Upgrading from 0.2.0")."""

_REFUSAL = (
    "acpw {cls}: 0.2.0's dynamic image resources are no longer created or updated (acpw only "
    "deletes them, keeping the images). Pin the image digests in acpw:images instead "
    "(docs/images.md); local .wasm files are published with `python -m acpw.oci.publish`."
)


class _Retired(ResourceProvider):
    def _refuse(self) -> NoReturn:
        raise RuntimeError(_REFUSAL.format(cls=type(self).__name__))

    def check(self, _olds: dict[str, Any], _news: dict[str, Any]) -> NoReturn:
        self._refuse()

    def create(self, _props: dict[str, Any]) -> NoReturn:
        self._refuse()

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> NoReturn:
        self._refuse()

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> NoReturn:
        self._refuse()

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to do: the image stays where it is (see the module docstring)."""


class ImagePushProvider(_Retired):
    """0.2.0's ``ImagePush``: an image copied or pushed into a private ECR repository."""


class ImageDigestProvider(_Retired):
    """0.2.0's ``ImageDigest``: a tag resolved to its digest (read only)."""


__all__ = ["KEPT_UNTIL", "ImageDigestProvider", "ImagePushProvider"]

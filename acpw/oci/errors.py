"""Errors of the OCI code: each message says what failed and what to do, never a credential."""

from __future__ import annotations


class OciError(Exception):
    """Base class of every error raised by :mod:`acpw.oci`."""


class RegistryUnreachable(OciError):
    """The registry could not be reached (DNS, connection, TLS, timeout)."""


class RegistryAuthError(OciError):
    """The registry refused the request: missing, wrong or expired credentials, or no permission."""


class RegistryError(OciError):
    """The registry answered with an unexpected status."""


class ImageNotFound(OciError):
    """The image, tag or blob does not exist in the registry."""


class ImageFormatError(OciError):
    """The image or file is not in a format the consumer (Istio's fetcher, the init container) accepts."""


class DigestMismatch(OciError):
    """Content does not match the digest it was pinned to."""

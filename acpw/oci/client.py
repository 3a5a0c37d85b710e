"""A registry client for the OCI distribution API, on top of the ``oras`` library.

``oras`` provides the reference parsing, the request/authentication handshake (Basic and Bearer
token challenges), upload-location handling and tag listing. This module adds what copying an
image byte-for-byte needs and ``oras`` does not offer: manifests as raw bytes with their media
type (``oras`` re-serialises manifests, which changes their digest), blobs from memory, digest
verification, bounded retries with timeouts, and errors that say what to do - without ever
including a credential.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import oras.auth
import oras.container
import oras.provider
import oras.utils
import requests

from acpw.oci.errors import (
    DigestMismatch,
    ImageNotFound,
    RegistryAuthError,
    RegistryError,
    RegistryUnreachable,
)
from acpw.oci.formats import ACCEPTED_MANIFESTS, Manifest, sha256_digest
from acpw.oci.reference import DIGEST_RE, Reference


@dataclass(frozen=True)
class Credentials:
    """Registry user name and password (or token). Never printed: see ``__repr__``."""

    username: str
    password: str

    def __repr__(self) -> str:
        return "Credentials(***)"

    @classmethod
    def from_value(cls, value: Any) -> Credentials | None:
        if not value:
            return None
        if isinstance(value, Credentials):
            return value
        if isinstance(value, Mapping) and value.get("username") and value.get("password"):
            return cls(str(value["username"]), str(value["password"]))
        raise ValueError("registry credentials need 'username' and 'password'")


@dataclass(frozen=True)
class Connection:
    """How to reach a registry: credentials, plain HTTP (tests), a CA bundle, timeouts and retries."""

    credentials: Credentials | None = None
    plain_http: bool = False
    ca_file: str | None = None
    timeout: float = 30.0
    attempts: int = 3
    backoff: float = 0.5


class _ChallengeAuth(oras.auth.TokenAuth):  # type: ignore[misc]
    """oras' token auth, plus registries that answer with a ``Basic`` challenge (htpasswd, ECR)."""

    uses_basic = False
    """Set after the first Basic challenge: later requests send the credentials right away."""

    def authenticate_request(
        self, original: requests.Response, headers: dict[str, str], refresh: bool = False
    ) -> tuple[dict[str, str], bool]:
        challenge = original.headers.get("Www-Authenticate", "")
        if challenge.lower().startswith("basic"):
            self.uses_basic = True
            basic = getattr(self, "_basic_auth", None)
            if not basic or "Authorization" in (headers or {}):
                return headers, False  # no credentials, or the ones sent were refused
            return {**(headers or {}), "Authorization": f"Basic {basic}"}, True
        result: tuple[dict[str, str], bool] = super().authenticate_request(
            original, headers, refresh
        )
        return result


class _TimeoutSession(requests.Session):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


class _Registry(oras.provider.Registry):  # type: ignore[misc]
    """oras' Registry with our session, auth backend and without its long sleeping retry loop."""

    def __init__(self, hostname: str, connection: Connection) -> None:
        tls_verify: bool | str = connection.ca_file or True
        super().__init__(hostname=hostname, insecure=connection.plain_http, tls_verify=tls_verify)
        self.session = _TimeoutSession(connection.timeout)
        self.auth = _ChallengeAuth()
        self.auth.session = self.session
        self.auth.prefix = self.prefix
        self.auth._tls_verify = tls_verify
        if connection.credentials:
            self.auth.set_basic_auth(
                connection.credentials.username, connection.credentials.password
            )

    def do_request(self, *args: Any, **kwargs: Any) -> requests.Response:
        # oras.provider.Registry.do_request is wrapped in a retry decorator that sleeps up to
        # minutes on a refused connection; RegistryClient retries itself, briefly.
        undecorated = oras.provider.Registry.do_request.__wrapped__
        response: requests.Response = undecorated(self, *args, **kwargs)
        return response


class RegistryClient:
    """One repository of one registry."""

    def __init__(
        self, registry: str, repository: str, connection: Connection | None = None
    ) -> None:
        self.registry = registry
        self.repository = repository
        self.connection = connection or Connection()
        self._oras = _Registry(registry, self.connection)
        self._container = oras.container.Container(f"{registry}/{repository}:latest")
        self.requests_by_method: dict[str, int] = {}
        """How many requests of each method were sent (lets tests prove that nothing was pushed)."""

    @classmethod
    def for_reference(cls, ref: Reference, connection: Connection | None = None) -> RegistryClient:
        return cls(ref.registry, ref.repository, connection)

    @property
    def _base(self) -> str:
        return f"{self._oras.prefix}://{self.registry}/v2/{self.repository}"

    def _describe(self) -> str:
        return f"{self.registry}/{self.repository}"

    def _request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        ok: tuple[int, ...] = (200,),
        allow_missing: bool = False,
        what: str = "",
    ) -> requests.Response | None:
        what = what or f"{method} {self._describe()}"
        last_error = ""
        for attempt in range(max(1, self.connection.attempts)):
            if attempt:
                time.sleep(self.connection.backoff * attempt)
            self.requests_by_method[method] = self.requests_by_method.get(method, 0) + 1
            sent = dict(headers or {})
            basic = getattr(self._oras.auth, "_basic_auth", None)
            if self._oras.auth.uses_basic and basic:
                sent["Authorization"] = f"Basic {basic}"
            try:
                response = self._oras.do_request(url, method, data=data, headers=sent)
            except requests.exceptions.SSLError as error:
                raise RegistryUnreachable(
                    f"TLS to registry {self.registry} failed ({_short(error)}): check its certificate "
                    "or the CA bundle"
                ) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
                last_error = _short(error)
                continue
            except ValueError as error:
                if "authentication" in str(error).lower():
                    raise self._auth_error(None, what) from None
                raise RegistryError(f"{what}: {error}") from None
            if response.status_code in ok:
                return response
            if response.status_code == 404 and allow_missing:
                return None
            if response.status_code in (401, 403):
                raise self._auth_error(response, what)
            if response.status_code == 404:
                raise ImageNotFound(f"{what}: not found (HTTP 404){_registry_errors(response)}")
            if response.status_code >= 500 or response.status_code == 429:
                last_error = f"HTTP {response.status_code}{_registry_errors(response)}"
                continue
            raise RegistryError(f"{what}: HTTP {response.status_code}{_registry_errors(response)}")
        if last_error.startswith("HTTP"):
            raise RegistryError(f"{what}: the registry keeps failing: {last_error}")
        raise RegistryUnreachable(
            f"cannot reach registry {self.registry} ({what}): {last_error}; "
            f"tried {self.connection.attempts} time(s)"
        )

    def _auth_error(self, response: requests.Response | None, what: str) -> RegistryAuthError:
        status = f" (HTTP {response.status_code})" if response is not None else ""
        details = _registry_errors(response) if response is not None else ""
        if self.connection.credentials is None:
            return RegistryAuthError(
                f"{what}: registry {self.registry} requires credentials{status}{details}"
            )
        if response is not None and response.status_code == 403:
            return RegistryAuthError(
                f"{what}: registry {self.registry} denied access with the given credentials"
                f"{status}{details}: check the identity's permissions on {self.repository}"
            )
        return RegistryAuthError(
            f"{what}: registry {self.registry} refused the credentials{status}{details}: "
            "wrong user name or password, or an expired token"
        )

    # --- reads ---------------------------------------------------------------------------------

    def check_access(self) -> None:
        """Fail early with a clear error when the registry is unreachable or refuses the credentials."""
        self._request(
            "GET", f"{self._oras.prefix}://{self.registry}/v2/", what=f"ping {self.registry}"
        )

    def get_manifest(self, reference: str) -> Manifest:
        response = self._request(
            "GET",
            f"{self._base}/manifests/{reference}",
            headers={"Accept": ", ".join(ACCEPTED_MANIFESTS)},
            what=f"get manifest {self._describe()}:{reference}",
        )
        assert response is not None
        data = response.content
        digest = sha256_digest(data)
        if DIGEST_RE.match(reference) and digest != reference:
            raise DigestMismatch(
                f"{self._describe()}@{reference}: the registry returned a manifest whose digest is {digest}"
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in ACCEPTED_MANIFESTS:
            declared = Manifest(data, "").parsed().get("mediaType")
            media_type = str(declared or media_type)
        if media_type not in ACCEPTED_MANIFESTS:
            raise RegistryError(
                f"{self._describe()}:{reference} has manifest media type {media_type!r}; supported are "
                + ", ".join(ACCEPTED_MANIFESTS)
            )
        return Manifest(data, media_type, digest)

    def manifest_digest(self, reference: str) -> str | None:
        """The digest a tag (or digest) points to, or None when it does not exist."""
        response = self._request(
            "HEAD",
            f"{self._base}/manifests/{reference}",
            headers={"Accept": ", ".join(ACCEPTED_MANIFESTS)},
            allow_missing=True,
            what=f"look up {self._describe()}:{reference}",
        )
        if response is None:
            return None
        digest = response.headers.get("Docker-Content-Digest", "")
        if DIGEST_RE.match(digest):
            return digest
        return self.get_manifest(reference).digest

    def blob_exists(self, digest: str) -> bool:
        response = self._request(
            "HEAD",
            f"{self._base}/blobs/{digest}",
            allow_missing=True,
            what=f"look up blob {digest} in {self._describe()}",
        )
        return response is not None

    def get_blob(self, digest: str) -> bytes:
        response = self._request(
            "GET", f"{self._base}/blobs/{digest}", what=f"get blob {digest} from {self._describe()}"
        )
        assert response is not None
        data = response.content
        if sha256_digest(data) != digest:
            raise DigestMismatch(
                f"{self._describe()}: blob {digest} arrived with different content"
            )
        return data

    def tags(self) -> list[str]:
        response = self._request(
            "GET",
            f"{self._base}/tags/list",
            allow_missing=True,
            what=f"list tags of {self._describe()}",
        )
        if response is None:
            return []
        return list(response.json().get("tags") or [])

    # --- writes --------------------------------------------------------------------------------

    def push_blob(self, data: bytes, digest: str | None = None) -> str:
        """Upload a blob unless the repository already has it (monolithic POST + PUT)."""
        digest = digest or sha256_digest(data)
        if sha256_digest(data) != digest:
            raise DigestMismatch(f"blob content does not match {digest}")
        if self.blob_exists(digest):
            return digest
        response = self._request(
            "POST",
            f"{self._base}/blobs/uploads/",
            headers={"Content-Length": "0"},
            ok=(202,),
            what=f"start blob upload to {self._describe()}",
        )
        assert response is not None
        location = self._oras._get_location(response, self._container)
        if not location:
            raise RegistryError(f"{self._describe()}: the registry gave no upload location")
        self._request(
            "PUT",
            oras.utils.append_url_params(location, {"digest": digest}),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
            data=data,
            ok=(201,),
            what=f"upload blob {digest} to {self._describe()}",
        )
        return digest

    def put_manifest(self, manifest: Manifest, reference: str | None = None) -> str:
        """Store the manifest bytes unchanged under a tag (or its digest); returns the digest."""
        reference = reference or manifest.digest
        response = self._request(
            "PUT",
            f"{self._base}/manifests/{reference}",
            headers={"Content-Type": manifest.media_type},
            data=manifest.data,
            ok=(200, 201),
            what=f"push manifest {self._describe()}:{reference}",
        )
        assert response is not None
        returned = response.headers.get("Docker-Content-Digest")
        if returned and returned != manifest.digest:
            raise DigestMismatch(
                f"{self._describe()}: the registry stored the manifest as {returned}, "
                f"expected {manifest.digest}"
            )
        return manifest.digest

    def delete_manifest(self, digest: str) -> bool:
        """Delete a manifest (and every tag on it). False when it did not exist."""
        response = self._request(
            "DELETE",
            f"{self._base}/manifests/{digest}",
            ok=(200, 202),
            allow_missing=True,
            what=f"delete {self._describe()}@{digest}",
        )
        return response is not None


def _short(error: BaseException) -> str:
    text = str(error)
    match = re.search(
        r"\[SSL: [A-Z_]+\][^')\"]*|\[Errno [-\d]+\] [^')\"\]]+|Connection refused|timed out|"
        r"Name or service not known",
        text,
    )
    return match.group(0) if match else (text[:200] or type(error).__name__)


def _registry_errors(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return ""
    messages = [
        str(item.get("message") or item.get("code")) for item in errors if isinstance(item, dict)
    ]
    return f": {'; '.join(messages)}" if messages else ""

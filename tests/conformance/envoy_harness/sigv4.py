"""Checks a request's SigV4 signature with botocore's signer (an implementation nobody here wrote).

The request is rebuilt from what the CloudWatch stand-in received: the headers the
``Authorization`` names in ``SignedHeaders``, the body, the path, the ``x-amz-date`` timestamp.
botocore then computes the signature for the given credentials, region and service; it must
equal the one received.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conformance.envoy_harness.fake_cloudwatch import Call

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?Signature=(?P<sig>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class Signed:
    access_key: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str


def check_sigv4(
    call: Call,
    *,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    region: str,
    service: str = "monitoring",
) -> list[str]:
    """What is wrong with the call's signature (empty: botocore computes the same one)."""
    problems: list[str] = []
    auths = call.header_values("authorization")
    if len(auths) != 1:
        return [f"expected exactly one Authorization header, got {len(auths)}: {auths}"]
    match = _AUTH_RE.match(auths[0])
    if not match:
        return [f"Authorization is not a SigV4 header: {auths[0]!r}"]
    if match["key"] != access_key:
        problems.append(f"signed with key {match['key']!r}, expected {access_key!r}")
    if match["region"] != region or match["service"] != service:
        problems.append(
            f"credential scope {match['region']}/{match['service']}, expected {region}/{service}"
        )
    signed = match["signed"].split(";")
    for required in ("host", "x-amz-date"):
        if required not in signed:
            problems.append(f"{required} is not signed (SignedHeaders={match['signed']})")
    if session_token is not None and call.headers.get("x-amz-security-token") != session_token:
        problems.append("x-amz-security-token is not the session token of the credentials")
    content_sha = call.headers.get("x-amz-content-sha256")
    if content_sha is not None and content_sha != hashlib.sha256(call.body).hexdigest():
        problems.append("x-amz-content-sha256 is not the body's hash")
    missing = [h for h in signed if h not in call.headers]
    if missing:
        return [*problems, f"signed headers missing from the request: {missing}"]
    request = AWSRequest(
        method=call.method,
        url=f"https://{call.headers['host']}{call.path}",
        data=call.body,
        headers={h: call.headers[h] for h in signed},
    )
    request.context["timestamp"] = call.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(access_key, secret_key, session_token), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != match["sig"]:
        problems.append(
            f"signature {match['sig']} is not botocore's {expected} for these credentials, "
            f"region {region} and service {service}"
        )
    return problems

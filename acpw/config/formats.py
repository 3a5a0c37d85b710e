"""Value formats of the ``acpw:*`` config: the patterns names, ARNs and images must match, the
Kubernetes label rules, and the string fields that also take numbers and booleans."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator

from acpw.config.errors import shown

REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CW_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9 ._\-/#:]+$")
PRINTABLE_ASCII_RE = re.compile(r"^[\x20-\x7e]+$")
HOST_RE = re.compile(
    r"^(?=.{1,253}(:\d{1,5})?$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:\d{1,5})?$"
)
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
IMAGE_REF_RE = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9]+([._-][a-z0-9]+)*)*(:\d+)?"  # registry host
    r"(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)+"  # repository path
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"  # tag
    r"(@sha256:[0-9a-f]{64})?$"
)
IAM_USER_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
IAM_PATH_RE = re.compile(r"^/([\x21-\x2e\x30-\x7e]+/)*$")
"""IAM ``Path``: ``/``, or ``/`` + segments of printable ASCII each ending in ``/``; no ``//``."""
IAM_PATH_MAX = 512
IAM_TAG_PUNCTUATION = frozenset("_.:/=+-@")
VPCE_RE = re.compile(r"^vpce-([0-9a-f]{8}|[0-9a-f]{17})$")
BOUNDARY_ARN_RE = re.compile(r"^arn:aws:iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,1024}$")
KMS_KEY_ARN_RE = re.compile(
    r"^arn:aws:kms:[a-z0-9-]+:\d{12}:(key/[A-Za-z0-9-]+|alias/[\w/+=,.@-]+)$"
)
INSTANCE_RE = re.compile(r"^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$")
PERCENT_RE = re.compile(r"^(\d{1,3})%$")
VM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


AWS_PARTITION = "aws"
"""The only partition supported: the module's endpoint host, IAM ARNs and console URL assume it."""

_PARTITION_PREFIXES = (
    (re.compile(r"^cn-"), "aws-cn"),
    (re.compile(r"^[a-z]{2}-gov-"), "aws-us-gov"),
    (re.compile(r"^[a-z]{2}-iso-"), "aws-iso"),
    (re.compile(r"^[a-z]{2}-iso([a-z])-"), "aws-iso-{0}"),
    (re.compile(r"^eusc-"), "aws-eusc"),
)


def region_partition(region: str) -> str:
    """The AWS partition a region name belongs to: ``cn-north-1`` -> ``aws-cn``, ``us-gov-west-1``
    -> ``aws-us-gov``, ``us-isob-east-1`` -> ``aws-iso-b``; ``aws`` for every other name."""
    for pattern, partition in _PARTITION_PREFIXES:
        match = pattern.match(region)
        if match:
            return partition.format(*match.groups())
    return AWS_PARTITION


def is_iam_tag_text(text: str) -> bool:
    """IAM's tag character rule ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]``: letters, separators (spaces),
    numbers, and ``_ . : / = + - @``."""
    return all(
        unicodedata.category(char)[0] in "LZN" or char in IAM_TAG_PUNCTUATION for char in text
    )


def scalar_as_text(value: Any) -> Any:
    """A number or boolean where only text makes sense, as the text the user typed.

    ``pulumi config set --path`` stores ``1234`` as a number and ``true`` as a boolean, but AWS tag
    values and Kubernetes label values are strings: 1234 -> "1234", true -> "true", 1.5 -> "1.5".
    Anything else is left for the string validation to refuse.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    return value


TextValue = Annotated[str, BeforeValidator(scalar_as_text)]
"""A string field that also takes a number or boolean (see :func:`scalar_as_text`)."""


def label_problems(labels: Mapping[str, str]) -> list[str]:
    problems = []
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN_RE.match(prefix))) or not (
            len(name) <= 63 and LABEL_NAME_RE.match(name)
        ):
            problems.append(
                f"label key {shown(key)} is not a Kubernetes label name ([prefix/]name, name up to 63 of "
                "[A-Za-z0-9_.-] starting and ending alphanumeric)"
            )
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE_RE.match(value):
            problems.append(
                f"label value {shown(value)} of {shown(key)} is not a Kubernetes label value (up to 63 of "
                "[A-Za-z0-9_.-] starting and ending alphanumeric)"
            )
    return problems

"""How configuration problems are reported: :class:`ConfigError` and the cross-field error type."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import pulumi
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

PROJECT = "acpw"
"""The config namespace: every key is reported as ``acpw:<key>``."""

CROSS_FIELD_ERROR = "acpw_cross_field"
"""pydantic error type of the problems found across fields (``ctx["problems"]``: ConfigProblems)."""


class ConfigError(pulumi.RunError, ValueError):
    """Invalid stack configuration: one line per problem, each naming its config key.

    A ``pulumi.RunError``, so that the CLI's language host shows only the message, no traceback.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class ConfigProblem(NamedTuple):
    """One problem found across fields: the key (without ``acpw:``) it is reported at, and why."""

    key: str
    message: str
    absolute: bool = False
    """The key is from the top (``cloudwatch.metricName``), not from where the check ran."""


def config_key(*path: str | int) -> str:
    """The user's spelling of a field path: ``("images", "ecr_kms_key_arn")`` -> ``images.ecrKmsKeyArn``.

    Names go through the models' alias generator; integers become list indexes (``gateways[1]``).
    """
    key = ""
    for part in path:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if key else "") + to_camel(part)
    return key


def cross_field_error(problems: Iterable[ConfigProblem]) -> PydanticCustomError:
    """The error a model validator raises for problems that each name their own key."""
    found = tuple(problems)
    return PydanticCustomError(
        CROSS_FIELD_ERROR,
        "{summary}",
        {"summary": "; ".join(f"{p.key}: {p.message}" for p in found), "problems": found},
    )

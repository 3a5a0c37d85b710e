"""How configuration problems are reported: :class:`ConfigError` and the cross-field error type."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import pulumi
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

PROJECT = "acpw"
"""The config namespace: every key is reported as ``acpw:<key>``."""

CROSS_FIELD_ERROR = "acpw_cross_field"
"""pydantic error type of the problems found across fields (``ctx["problems"]``: ConfigProblems)."""


SHOWN_LIMIT = 60
"""How many characters of a user's value an error message quotes before cutting it short."""


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """A user's value as an error message quotes it: at most ``limit`` characters, then ``…``.

    Text is quoted like ``repr`` (so a newline or control character cannot break the one line
    per problem), anything else is its ``repr``; a value cut short says how long it was:
    ``'xxxx…' (70000 characters)``. Every message that repeats a user's value goes through here,
    so that a pasted file or a huge number cannot flood the output.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit] + '…'!r} ({len(value)} characters)"
    if isinstance(value, int) and value.bit_length() > 4 * limit:
        # repr() of an int with more than 4300 digits raises: say how big it is instead.
        return f"an integer of about {round(value.bit_length() * math.log10(2))} digits"
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


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

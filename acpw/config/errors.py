"""How configuration problems are reported: :class:`ConfigError`, :class:`ConfigProblem` and
:class:`ConfigWarning` (what :mod:`acpw.config.checks` finds), and how a user's value is quoted."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import NamedTuple

import pulumi
from pydantic.alias_generators import to_camel

PROJECT = "acpw"
"""The config namespace: every key is reported as ``acpw:<key>``."""

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

    def hiding(self, secret_keys: Collection[str]) -> ConfigError:
        """The same problems, those at or under a secret key (``iam``, ``iam.userName``) told
        without their text, which may quote the value (:func:`shown`)."""

        def is_secret(key: str) -> bool:
            return any(key == s or key.startswith((f"{s}.", f"{s}[")) for s in secret_keys)

        problems = []
        for problem in self.problems:
            key = problem.removeprefix(f"{PROJECT}:").partition(": ")[0]
            if is_secret(key):
                problem = (
                    f"{PROJECT}:{key}: not valid; the value is a secret, so neither it nor the "
                    "problem is shown (docs/configuration.md says what it allows)"
                )
            problems.append(problem)
        return ConfigError(problems)


class ConfigProblem(NamedTuple):
    """A problem found across fields: the key (without ``acpw:``) it is reported at, and why."""

    key: str
    message: str

    @property
    def line(self) -> str:
        return f"{PROJECT}:{self.key}: {self.message}"


class ConfigWarning(NamedTuple):
    """A setting the program cannot honour as written: the key (without ``acpw:``), and why."""

    key: str
    message: str

    @property
    def line(self) -> str:
        return f"{PROJECT}:{self.key}: {self.message}"


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

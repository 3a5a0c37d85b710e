"""The one base of every ``acpw:*`` config model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict


class ConfigModel(BaseModel):
    """A config object: the user's keys are the camelCase aliases of its snake_case fields.

    - ``extra="forbid"``: an unknown key (a typo) is refused, naming the allowed keys;
    - ``frozen``: the validated config is a value, shared by every builder;
    - ``populate_by_name=False``: only the user's spelling (``metricName``) is accepted;
    - ``use_attribute_docstrings``: each field's docstring is its description, the one source of
      docs/configuration.md, Pulumi.yaml's descriptions and the component's input docs
      (``python -m tools.config_docs``).

    Models hold per-field rules only; rules across fields are :mod:`acpw.config.checks`.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        use_attribute_docstrings=True,
    )


def allowed(text: str) -> JsonDict:
    """A field's ``json_schema_extra``: its allowed values in words, for docs/configuration.md.

    Only where the type does not say it (a ``Literal``, ``ge``/``le`` and booleans speak for
    themselves); the field's validator enforces it.
    """
    return {"allowed": text}

"""The field docstrings are the one source of every config description (tools/config_docs.py)."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

import yaml
from pydantic import Field

from acpw.config.base import ConfigModel, allowed
from acpw.config.models import AcpwConfig, ImagesConfig
from tools import config_docs
from tools.config_docs import (
    CONFIGURATION_MD,
    PULUMI_YAML,
    allowed_text,
    anchors,
    component_doc,
    component_mismatches,
    config_objects,
    configuration_md,
    default_text,
    pulumi_yaml,
    type_text,
    undocumented,
)


class Inner(ConfigModel):
    """``x:inner``: a nested object."""

    level: int = Field(3, strict=True, ge=1, le=5)
    """How much."""


class Root(ConfigModel):
    """A config root for the tests."""

    mode: Literal["a", "b"] = "a"
    """The mode."""
    inner: Inner = Field(default_factory=lambda: Inner.model_validate({}))
    """The inner object."""
    entries: list[Inner] = Field(default_factory=list)
    """Some entries."""
    name: str | None = Field(None, json_schema_extra=allowed("a short name"))
    forgotten: bool = False


def test_generated_files_are_current() -> None:
    assert config_docs.stale() == [], "run `python -m tools.config_docs --write` (make docs)"
    assert config_docs.main(["--check"]) == 0


def test_every_config_field_has_a_docstring() -> None:
    assert undocumented() == []


def test_a_field_without_docstring_is_found() -> None:
    assert undocumented(Root) == ["acpw:name", "acpw:forgotten"]


def test_the_component_inputs_say_what_the_models_say() -> None:
    """The TypedDicts of acpw/component.py (the SDKs' docs) carry the models' descriptions."""
    assert component_mismatches() == []


def test_a_differing_component_docstring_is_found() -> None:
    class InnerInput(TypedDict):
        level: NotRequired[int]
        """How much. Allowed: 1 to 5. Default: ``3``."""

    class RootInput(TypedDict):
        mode: NotRequired[str]
        """Another mode."""
        inner: NotRequired[InnerInput]
        """The inner object."""
        entries: NotRequired[list[InnerInput]]
        """Some entries."""
        name: NotRequired[str]
        """Allowed: a short name."""

    found = component_mismatches(RootInput, Root)
    assert [line.split(":")[0] for line in found] == [
        "RootInput.mode",
        "RootInput.forgotten",
    ]
    assert "should be 'The mode. Allowed: ``a``, ``b``. Default: ``a``.'" in found[0]


def test_every_object_has_its_table() -> None:
    text = CONFIGURATION_MD.read_text(encoding="utf-8")
    for obj in config_objects():
        assert f"\n## {obj.title}\n" in text
        for name, field in obj.model.model_fields.items():
            assert f"| `{field.alias or name}` |" in text, (obj.key, name)
    assert "| `registry` | string | `ghcr`, `ecr` | `ghcr` |" in text


def test_types_allowed_values_and_defaults() -> None:
    fields = Root.model_fields
    sections = anchors(Root)
    assert type_text(fields["inner"].annotation, sections) == "[object](#acpwinner)"
    assert type_text(fields["entries"].annotation, sections) == "list of [objects](#acpwinner)"
    assert type_text(fields["name"].annotation, sections) == "string"
    assert allowed_text(fields["mode"]) == "``a``, ``b``"
    assert allowed_text(Inner.model_fields["level"]) == "1 to 5"
    assert allowed_text(fields["name"]) == "a short name"
    assert default_text(fields["inner"]) == "all defaults"
    assert default_text(fields["name"]) == "unset"
    assert default_text(fields["entries"]) == "`[]`"
    assert type_text(AcpwConfig.model_fields["istio_version"].annotation) == "string"
    assert default_text(AcpwConfig.model_fields["istio_version"]) == "required"
    assert type_text(ImagesConfig.model_fields["ecr_keep_images"].annotation) == "integer"
    assert (
        component_doc(Inner.model_fields["level"]) == "How much. Allowed: 1 to 5. Default: ``3``."
    )


def test_pulumi_yaml_descriptions_are_generated_and_new_keys_declared() -> None:
    text = PULUMI_YAML.read_text(encoding="utf-8")
    project = yaml.safe_load(text)
    assert project["config"]["acpw:images"]["description"].startswith(
        AcpwConfig.model_fields["images"].description
    )
    assert "registry" in project["config"]["acpw:images"]["description"]
    edited = text.replace(project["config"]["acpw:cost"]["description"], "hand-written")
    assert pulumi_yaml(edited) == text
    project_text = "name: acpw\nconfig:\n  acpw:mode:\n    type: string\n    description: old\n"
    written = yaml.safe_load(pulumi_yaml(project_text, Root))["config"]
    assert written["acpw:mode"] == {"type": "string", "description": "The mode."}
    assert written["acpw:inner"]["type"] == "object"
    assert written["acpw:inner"]["default"] == {}
    assert "Keys: level (docs/configuration.md#acpwinner)" in written["acpw:inner"]["description"]
    assert written["acpw:entries"]["items"] == {"type": "object"}
    assert written["acpw:forgotten"]["default"] is False


def test_configuration_md_names_its_source() -> None:
    assert "python -m tools.config_docs --write" in configuration_md().splitlines()[2]

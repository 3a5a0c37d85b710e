"""Write the config reference from the models' field docstrings, or check that it is current.

    python -m tools.config_docs --write   # after changing a model in acpw/config/ (make docs)
    python -m tools.config_docs --check   # exit 1 when a generated file is stale (tests do this too)

Each config field's docstring (``use_attribute_docstrings``, :class:`acpw.config.base.ConfigModel`)
is the one source of its description. From the models this writes:

- ``docs/configuration.md``: one table per config object (key, type, allowed values, default,
  description);
- the ``description`` of every ``acpw:*`` declaration in ``Pulumi.yaml`` (a key the file does not
  declare yet is appended with its type and default);

- ``acpw/component_inputs.py``: the packaged component's input TypedDicts (the SDKs' input
  types and docs, from which the provider schema is inferred), one per config object;

and it checks that the component's TypedDicts say what the models say
(:func:`component_mismatches`).
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import re
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from acpw.config import AcpwConfig
from acpw.config.errors import PROJECT
from acpw.istio_versions import IstioVersion

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATION_MD = ROOT / "docs" / "configuration.md"
COMPONENT_INPUTS_PY = ROOT / "acpw" / "component_inputs.py"
PULUMI_YAML = ROOT / "Pulumi.yaml"
COMMAND = "python -m tools.config_docs --write"
DEFAULT_IN_DOCSTRING_MAX = 40
"""A default up to this long is appended to the component's input docs (``Default: ...``)."""


@dataclass(frozen=True)
class ConfigObject:
    """One config object: its model and where it sits (``acpw:observability.heartbeat``)."""

    key: str
    model: type[BaseModel]
    entries: bool = False
    """An entry of a list (``acpw:gateways``), not an object."""

    @property
    def title(self) -> str:
        return f"{self.key} entries" if self.entries else self.key

    @property
    def anchor(self) -> str:
        """GitHub's anchor of the section heading."""
        return re.sub(r"[^a-z0-9 -]", "", self.title.lower()).replace(" ", "-")


def field_key(name: str, field: FieldInfo) -> str:
    return field.alias or name


def _unwrap(annotation: Any) -> Any:
    """The annotation without ``Annotated`` metadata and without ``| None``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
    return annotation


def nested_model(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The config model a field holds, and whether as list entries; None for a plain value."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if typing.get_origin(annotation) is list:
        inner = _unwrap(typing.get_args(annotation)[0])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner, True
    return None


def config_objects(
    model: type[BaseModel] = AcpwConfig, key: str = f"{PROJECT}:*", entries: bool = False
) -> Iterator[ConfigObject]:
    """Every config object, top first, each followed by the objects inside it."""
    yield ConfigObject(key, model, entries)
    for name, field in model.model_fields.items():
        inner = nested_model(field.annotation)
        if inner is not None:
            child = field_key(name, field)
            child_key = f"{PROJECT}:{child}" if key == f"{PROJECT}:*" else f"{key}.{child}"
            yield from config_objects(inner[0], child_key, inner[1])


def anchors(root: type[BaseModel] = AcpwConfig) -> dict[type[BaseModel], str]:
    """Each model's section (its first, where a model is used twice)."""
    found: dict[type[BaseModel], str] = {}
    for obj in config_objects(root):
        found.setdefault(obj.model, obj.anchor)
    return found


_SCALARS = {
    str: "string",
    int: "integer",
    bool: "boolean",
    float: "number",
    Decimal: "number",
    IstioVersion: "string",
}


def type_text(annotation: Any, sections: dict[type[BaseModel], str] | None = None) -> str:
    """The value's type in words: ``string``, ``list of string``, ``[object](#acpwimages)``."""
    sections = anchors() if sections is None else sections
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[object](#{sections[annotation]})"
    if origin is Literal:
        return "string"
    if origin is list:
        return "list of " + type_text(typing.get_args(annotation)[0], sections).replace(
            "[object]", "[objects]"
        )
    if origin is dict:
        return "map of " + type_text(typing.get_args(annotation)[1], sections)
    if typing.get_args(annotation):  # a union
        return " or ".join(type_text(a, sections) for a in typing.get_args(annotation))
    return _SCALARS[annotation]


def _jsonable(value: Any) -> Any:
    return value.model_dump(mode="json", by_alias=True) if isinstance(value, BaseModel) else value


def _code(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{'true' if value else 'false'}`"
    if isinstance(value, BaseModel):
        return f"`{json.dumps(value.model_dump(mode='json', by_alias=True), sort_keys=False)}`"
    if isinstance(value, list):
        return f"`{json.dumps([_jsonable(v) for v in value])}`"
    if isinstance(value, dict):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def default_value(field: FieldInfo) -> Any:
    """The field's default (``PydanticUndefined`` when required)."""
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return field.default


def default_text(field: FieldInfo) -> str:
    default = default_value(field)
    if default is PydanticUndefined:
        return "required"
    if default is None:
        return "unset"
    if isinstance(default, BaseModel):
        return "all defaults"
    return _code(default)


def allowed_text(field: FieldInfo) -> str:
    """Allowed values: the ``Literal`` choices, booleans, ``ge``/``le`` bounds, or the words of
    :func:`acpw.config.base.allowed`."""
    parts = []
    annotation = _unwrap(field.annotation)
    if annotation is bool:
        parts.append("``true``, ``false``")
    if typing.get_origin(annotation) is Literal:
        parts.append(", ".join(f"``{choice}``" for choice in typing.get_args(annotation)))
    low = high = None
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge):
            low = meta.ge
        elif isinstance(meta, annotated_types.Le):
            high = meta.le
    if low is not None and high is not None:
        parts.append(f"{low} to {high}")
    elif low is not None:
        parts.append(f"at least {low}")
    elif high is not None:
        parts.append(f"at most {high}")
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "allowed" in extra:
        parts.append(str(extra["allowed"]))
    return "; ".join(parts)


def description(field: FieldInfo) -> str:
    """The field's docstring on one line."""
    return " ".join((field.description or "").split())


def _markdown(text: str) -> str:
    """reST literals (````x````) as Markdown code, and safe inside a table cell."""
    return re.sub(r"``(.+?)``", r"`\1`", text).replace("|", "\\|")


def _plain(text: str) -> str:
    return re.sub(r"``(.+?)``", r"\1", text)


def undocumented(root: type[BaseModel] = AcpwConfig) -> list[str]:
    """Every config field without a docstring, as ``acpw:images.sender``."""
    return [
        f"{obj.key.removesuffix('*')}{'' if obj.key.endswith('*') else '.'}{field_key(n, f)}"
        for obj in config_objects(root)
        for n, f in obj.model.model_fields.items()
        if not description(f)
    ]


# --- docs/configuration.md --------------------------------------------------------------------


def configuration_md() -> str:
    sections = anchors()
    lines = [
        "# Configuration reference",
        "",
        f"<!-- generated by `{COMMAND}` from the field docstrings of acpw/config/: "
        "edit those, then run `make docs` -->",
        "",
        f"Every key is a stack config value `{PROJECT}:<key>` (`pulumi config set --path`) and, "
        "under the same name, an input of the packaged `AcpwDeployment` component. Objects "
        "nest: `acpw:images.registry` is the key `registry` of the object `acpw:images`. Only "
        "`acpw:istioVersion` is required. An unknown key is refused, naming the allowed ones.",
        "",
    ]
    for obj in config_objects():
        doc = " ".join(inspect.cleandoc(obj.model.__doc__ or "").split())
        doc = re.sub(r"^``[^`]+``: (.)", lambda m: m.group(1).upper(), doc)  # the heading says it
        lines += [f"## {obj.title}", "", _markdown(doc), ""]
        lines += [
            "| key | type | allowed values | default | description |",
            "|---|---|---|---|---|",
        ]
        for name, field in obj.model.model_fields.items():
            cells = [
                f"`{field_key(name, field)}`",
                type_text(field.annotation, sections),
                _markdown(allowed_text(field)),
                _markdown(default_text(field)),
                _markdown(description(field)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


# --- Pulumi.yaml ----------------------------------------------------------------------------


def pulumi_description(name: str, field: FieldInfo) -> str:
    """A top-level key's ``description`` in Pulumi.yaml: its docstring, and an object's keys."""
    text = _plain(description(field))
    inner = nested_model(field.annotation)
    if inner is not None:
        model, entries = inner
        keys = ", ".join(field_key(n, f) for n, f in model.model_fields.items())
        anchor = ConfigObject(f"{PROJECT}:{field_key(name, field)}", model, entries).anchor
        text += f" {'Entry keys' if entries else 'Keys'}: {keys} (docs/configuration.md#{anchor})."
    return text


def _declaration(name: str, field: FieldInfo) -> list[str]:
    """A new ``config:`` entry for a key Pulumi.yaml does not declare yet."""
    annotation = _unwrap(field.annotation)
    origin = typing.get_origin(annotation)
    default = default_value(field)
    if nested_model(annotation) is not None and origin is not list:
        kind, default = "object", {}
    elif origin is list:
        kind = "array"
    elif origin is dict:
        kind = "object"
    else:
        kind = {"integer": "integer", "boolean": "boolean"}.get(type_text(annotation), "string")
    lines = [f"  {PROJECT}:{field_key(name, field)}:", f"    type: {kind}"]
    if kind == "array":
        item = nested_model(annotation)
        lines.append(f"    items:\n      type: {'object' if item else 'string'}")
    lines.append("    description: DESCRIPTION")
    if default is not PydanticUndefined and default is not None:
        if isinstance(default, list):
            default = [_jsonable(v) for v in default]
        lines.append(f"    default: {json.dumps(default, default=str)}")
    return lines


def pulumi_yaml(text: str, root: type[BaseModel] = AcpwConfig) -> str:
    """``text`` (Pulumi.yaml) with every ``acpw:*`` description generated; missing keys added."""
    lines = text.splitlines()
    fields = {field_key(n, f): (n, f) for n, f in root.model_fields.items()}
    declared = {
        line.strip().removesuffix(":").split(":", 1)[1]: index
        for index, line in enumerate(lines)
        if re.match(rf"^  {PROJECT}:[A-Za-z0-9]+:\s*$", line)
    }
    for key, (name, field) in fields.items():
        if key not in declared:  # config is the last section of Pulumi.yaml
            lines.extend(_declaration(name, field))
    out = []
    current: str | None = None
    for line in lines:
        match = re.match(rf"^  {PROJECT}:([A-Za-z0-9]+):\s*$", line)
        if match:
            current = match.group(1)
        elif line.strip() and not line.startswith("   ") and not line.lstrip().startswith("#"):
            current = None
        if current in fields and re.match(r"^    description:", line):
            name, field = fields[current]
            generated = json.dumps(pulumi_description(name, field), ensure_ascii=False)
            line = f"    description: {generated}"
        out.append(line)
    return "\n".join(out) + "\n"


# --- acpw/component.py (checked, never written) ---------------------------------------------


def component_doc(field: FieldInfo) -> str:
    """What a component input's docstring must say: the model's, its allowed values and a short
    default (the SDKs show nothing else)."""
    text = description(field)
    allowed = allowed_text(field)
    if allowed and _unwrap(field.annotation) is not bool:
        text += f" Allowed: {allowed}" + ("" if allowed.endswith(".") else ".")
    default = default_value(field)
    text = text.strip()
    if default is PydanticUndefined or default is None or isinstance(default, BaseModel):
        return text
    if isinstance(default, list | dict) and not default:
        return text
    shown = _code(default).strip("`")
    if isinstance(default, list | dict) or len(shown) > DEFAULT_IN_DOCSTRING_MAX:
        return text
    return f"{text} Default: ``{shown}``.".strip()


def typed_dict_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a TypedDict, read from its source."""
    import ast

    tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _typed_dict_in(annotation: Any) -> type | None:
    candidates = [annotation]
    while candidates:
        current = candidates.pop()
        if typing.is_typeddict(current):
            return current  # type: ignore[no-any-return]
        candidates.extend(typing.get_args(current))
    return None


def component_mismatches(
    typed_dict: type | None = None, model: type[BaseModel] = AcpwConfig
) -> list[str]:
    """Component inputs whose docstring does not say what the model's field says."""
    if typed_dict is None:
        from acpw import component_inputs

        typed_dict = component_inputs.AcpwDeploymentArgs
    docs = typed_dict_docs(typed_dict)
    hints = typed_dict.__annotations__  # real objects: component.py has no `from __future__`
    found = []
    for name, field in model.model_fields.items():
        if name not in hints:
            found.append(f"{typed_dict.__name__}.{name}: missing (the model has it)")
            continue
        wanted = component_doc(field)
        if docs.get(name) != wanted:
            found.append(
                f"{typed_dict.__name__}.{name}: docstring should be {wanted!r}, is {docs.get(name)!r}"
            )
        inner = nested_model(field.annotation)
        nested = _typed_dict_in(hints[name])
        if inner is not None and nested is not None:
            found.extend(component_mismatches(nested, inner[0]))
    return found


# --- command --------------------------------------------------------------------------------


def typed_dict_name(model: type[BaseModel]) -> str:
    """The component's name for a config object: ``CloudWatchConfig`` -> ``CloudWatch``."""
    return "AcpwDeploymentArgs" if model is AcpwConfig else model.__name__.removesuffix("Config")


def _input_type(annotation: Any) -> str:
    """The TypedDict annotation of a config field, in the shapes the SDK's schema analyzer
    supports (``str``, ``int``, ``float``, ``bool``, lists, ``dict[str, ...]``, TypedDicts):
    a ``Literal`` is a ``str``, ``int | str`` (a count or a percentage) a ``str``."""
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return typed_dict_name(annotation)
    if origin in (list, tuple):
        return f"list[{_input_type(typing.get_args(annotation)[0])}]"
    if origin is dict:
        return f"dict[str, {_input_type(typing.get_args(annotation)[1])}]"
    if origin is Literal or annotation in (str, IstioVersion):
        return "str"
    if origin in (typing.Union, types.UnionType) and str in typing.get_args(annotation):
        return "str"
    if annotation in (bool, int):
        return str(annotation.__name__)
    if annotation in (float, Decimal):
        return "float"
    raise TypeError(f"no component input type for {annotation!r}")


def _typed_dict_source(model: type[BaseModel]) -> str:
    doc = (
        "Inputs of the packaged ``AcpwDeployment``: the keys of the ``acpw:*`` stack config."
        if model is AcpwConfig
        else " ".join((model.__doc__ or "").split("\n\n")[0].split())
    )
    lines = [f"class {typed_dict_name(model)}(TypedDict):", *_docstring(doc, 4), ""]
    for name, field in model.model_fields.items():
        kind = f"pulumi.Input[{_input_type(field.annotation)}]"
        if not field.is_required():
            kind = f"NotRequired[{kind}]"
        lines.append(f"    {name}: {kind}")
        lines.extend(_docstring(component_doc(field), 4))
    return "\n".join(lines)


def _docstring(text: str, indent: int, width: int = 100) -> list[str]:
    """``text`` as a docstring wrapped at ``width``, quotes and indentation included."""
    import textwrap

    pad = " " * indent
    # Room for the closing quotes on every line, so that the last one always takes them.
    wrapped = textwrap.wrap(
        text.replace("\\", "\\\\"),
        width=width - indent - 3,
        initial_indent='"""',
        break_long_words=False,
        break_on_hyphens=False,
    )
    wrapped[-1] += '"""'
    return [pad + line for line in wrapped]


def component_inputs_py() -> str:
    """acpw/component_inputs.py: one TypedDict per config object, nested ones first."""
    objects = list(config_objects())
    seen: list[type[BaseModel]] = []
    for obj in reversed(objects):
        if obj.model not in seen:
            seen.append(obj.model)
    header = f'''"""The packaged component's inputs: one TypedDict per ``acpw:*`` config object.

Generated by `{COMMAND}` (make docs) from the config models
(acpw/config/): their fields, in order, with each field's docstring, allowed values and short
default. Edit the models, then regenerate; a test fails while this file is stale. The provider's schema (provider/schema.json)
is inferred from these annotations by the Python SDK's analyzer, which reads real annotations
(no ``from __future__ import annotations`` here) and supports only ``pulumi.Input`` of ``str``,
``int``, ``float``, ``bool``, lists, ``dict[str, ...]`` and TypedDicts.
"""

from typing import NotRequired, TypedDict

import pulumi
'''
    return header + "\n\n" + "\n\n\n".join(_typed_dict_source(m) for m in seen) + "\n"


def generated() -> dict[Path, str]:
    """Every file this tool writes, with the text it must have."""
    return {
        CONFIGURATION_MD: configuration_md(),
        COMPONENT_INPUTS_PY: component_inputs_py(),
        PULUMI_YAML: pulumi_yaml(PULUMI_YAML.read_text(encoding="utf-8")),
    }


def stale() -> list[Path]:
    return [
        path
        for path, text in generated().items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the generated files")
    mode.add_argument("--check", action="store_true", help="exit 1 when one is stale")
    args = parser.parse_args(argv)
    problems = [f"{key}: no docstring" for key in undocumented()] + component_mismatches()
    if args.write:
        for path, text in generated().items():
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                print(f"{path.relative_to(ROOT)} updated")
    else:
        problems += [f"{path.relative_to(ROOT)} is stale: run `{COMMAND}`" for path in stale()]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Reading ``Pulumi.<stack>.yaml`` (and ``Pulumi.yaml``) without silently dropping duplicate keys.

``yaml.safe_load`` keeps the last of two equal keys in a mapping, so a stack file with
``acpw:iam`` written twice loses the first block without a word. :func:`load_yaml` reads
YAML exactly like ``yaml.safe_load`` but refuses such a file with a :class:`ConfigError`
naming the file, the line and the key of every duplicate (and where the key first appeared).
Keys merged in with ``<<:`` may be overridden, as YAML intends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from acpw.config.errors import ConfigError, shown

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that records every key repeated within one mapping."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[Any, int, int]] = []
        """(key, line, line of its first occurrence), lines counted from 1."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base class refuses an unhashable key itself
                line = key_node.start_mark.line + 1
                if key in first_line:
                    self.duplicates.append((key, line, first_line[key]))
                else:
                    first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load(text)``, refusing duplicate keys: ``source`` names the file in the error."""
    loader = _DuplicateKeyLoader(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError(
            [
                f"{source}:{line}: duplicate key {shown(key)} (first at line {first}): YAML "
                "would silently keep only the last one; write the key once"
                for key, line, first in sorted(loader.duplicates, key=lambda d: d[1])
            ]
        )
    return data


def load_yaml_file(path: str | Path) -> Any:
    """:func:`load_yaml` of a file, named in errors by its file name."""
    path = Path(path)
    return load_yaml(path.read_text(encoding="utf-8"), path.name)

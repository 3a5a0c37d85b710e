"""The component library installs with every package it has (pip install <repo>)."""

from __future__ import annotations

import tomllib

from tools.render import ROOT


def test_every_component_package_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = set(project["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "components").rglob("__init__.py")
    }
    assert declared == found


def test_install_requires_the_pinned_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"] == {
        "file": ["requirements.txt"]
    }
    pins = [
        line
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pins and all("==" in pin for pin in pins)

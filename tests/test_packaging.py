"""The component library installs cleanly into other projects (pip install <repo>)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tools.render import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.txt must pin exactly: {line}"
            pins[name.lower()] = version
    return pins


def test_every_package_is_declared() -> None:
    declared = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "acpw").rglob("__init__.py")
    }
    assert declared == found


def test_distribution_and_import_share_one_distinctive_name() -> None:
    assert PYPROJECT["project"]["name"] == "acpw"
    assert (ROOT / "acpw" / "__init__.py").is_file()
    assert not (ROOT / "components").exists()


def test_dependencies_are_ranges_that_admit_the_tested_pins() -> None:
    requirements = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    pins = _pins()
    assert {r.name.lower() for r in requirements} == set(pins)
    for requirement in requirements:
        assert not any(spec.operator == "==" for spec in requirement.specifier), requirement
        assert requirement.specifier.contains(pins[requirement.name.lower()]), requirement


def test_metadata_has_license_readme_and_typing_marker() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert project["readme"] == "README.md"
    assert project["urls"]
    assert (ROOT / "acpw" / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["acpw"]


CONSUMER_PROGRAM = """\
import json
import sys

import pulumi

# The consumer's own package of the same common name must not shadow ours.
from components.naming import prefix
from acpw.config import load_config
from acpw.deployment import AcpwDeployment, AcpwDeploymentArgs


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        outputs = dict(args.inputs)
        if args.typ == "aws:iam/user:User":
            outputs["arn"] = f"arn:aws:iam::000000000000:user{outputs['path']}{outputs['name']}"
        return f"{args.name}-id", outputs

    def call(self, args):
        return {}, []


pulumi.runtime.set_mocks(Mocks(), project="platform", stack="prod", preview=False)

config = load_config(
    {"istioVersion": "1.24"}, project="platform", stack="prod", aws_region="ap-northeast-1"
)
acpw = AcpwDeployment(prefix("acpw"), AcpwDeploymentArgs(config=config))




@pulumi.runtime.test
def report():
    return acpw.user_arn.apply(lambda arn: print(json.dumps({"user": arn})))


report()
"""


PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP_WHEEL, "--wheel-dir", str(out), str(ROOT)],
        check=True,
        env={**os.environ, "PIP_NO_INPUT": "1"},
    )
    [built] = out.glob("acpw-*.whl")
    return built


def test_wheel_serves_a_consumer_with_its_own_components_package(
    wheel: Path, tmp_path: Path
) -> None:
    # A fresh venv that sees this venv's dependencies (a .pth line), and only the wheel of ours.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(deps + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, str(wheel)],
        check=True,
    )
    assert Path(site, "acpw", "py.typed").exists()

    project = tmp_path / "consumer"
    (project / "components").mkdir(parents=True)
    (project / "components" / "__init__.py").write_text("")
    (project / "components" / "naming.py").write_text("def prefix(name):\n    return name\n")
    (project / "__main__.py").write_text(CONSUMER_PROGRAM)
    result = subprocess.run(
        [str(python), "__main__.py"],
        cwd=project,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert '{"user": "arn:aws:iam::000000000000:user/acpw/platform-prod"}' in result.stdout
    # The import came from the installed wheel, not from this checkout.
    check = subprocess.run(
        [str(python), "-c", "import acpw; print(acpw.__file__)"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip().startswith(site), textwrap.shorten(check.stdout, 200)

"""The offline render: fresh, deterministic, and never showing a secret."""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tools import mock_engine, render
from tools.render import ROOT, files_for, main, render_stack

SENTINELS = ("SENTINEL-ACCESS-KEY-ID", "SENTINEL-SECRET-ACCESS-KEY", "SENTINEL-REGISTRY-TOKEN")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_render_is_current(stack: str) -> None:
    fresh = files_for(render_stack(stack))
    for name, content in fresh.items():
        committed = (ROOT / "rendered" / stack / name).read_text()
        assert committed == content, (
            f"rendered/{stack}/{name} is stale: run `make render STACK={stack}` and commit"
        )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_render_is_deterministic(stack: str) -> None:
    assert files_for(render_stack(stack)) == files_for(render_stack(stack))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_render_files_are_valid_multi_document_yaml(stack: str) -> None:
    files = files_for(render_stack(stack))
    documents = [d for d in yaml.safe_load_all(files["kubernetes.yaml"]) if d]
    assert documents, "no Kubernetes objects rendered"
    for document in documents:
        assert {"apiVersion", "kind", "metadata"} <= set(document)
    keys = [
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]) for d in documents
    ]
    assert keys == sorted(keys) or documents[-1]["kind"] == "IstioOperator"
    assert isinstance(yaml.safe_load(files["aws.yaml"]), list)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_secret_value_reaches_any_rendered_file(
    stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def access_key(args: object) -> dict[str, object]:
        return {"secret": SENTINELS[1], "status": "Active"}

    def registry_token(args: object) -> dict[str, object]:
        return {
            "userName": "AWS",
            "password": SENTINELS[2],
            "authorizationToken": SENTINELS[2],
            "proxyEndpoint": "x",
        }

    monkeypatch.setitem(mock_engine.COMPUTED_OUTPUTS, "aws:iam/accessKey:AccessKey", access_key)
    monkeypatch.setitem(
        mock_engine.INVOKE_RESULTS,
        "aws:ecr/getAuthorizationToken:getAuthorizationToken",
        registry_token,
    )
    monkeypatch.setattr(
        mock_engine.RecordingMocks,
        "new_resource",
        _with_access_key_id(mock_engine.RecordingMocks.new_resource),
    )
    render = render_stack(stack)
    # The mock really handed the sentinels to the program...
    assert any(SENTINELS[1] in str(r.plain_inputs()) for r in render.registrations)
    # No registry token reaches the program any more (nothing pushes: the cache pulls).
    assert not any(SENTINELS[2] in str(r.plain_inputs()) for r in render.registrations)
    text = "".join(files_for(render).values())
    for sentinel in SENTINELS:
        assert sentinel not in text
    assert "[secret]" in text


def _with_access_key_id(original):  # type: ignore[no-untyped-def]
    def new_resource(self, args):  # type: ignore[no-untyped-def]
        resource_id, outputs = original(self, args)
        if args.typ == "aws:iam/accessKey:AccessKey":
            resource_id = SENTINELS[0]
        return resource_id, outputs

    return new_resource


def test_invalid_config_makes_render_exit_non_zero(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    stack_yaml = 'config:\n  aws:region: ap-northeast-1\n  acpw:istioVersion: "1.11"\n'
    with _stack_file("broken-test", stack_yaml):
        assert main(["broken-test", "--out", str(tmp_path)]) == 1
    assert "acpw:istioVersion: Istio 1.11 is too old" in capsys.readouterr().err
    assert not (tmp_path / "broken-test").exists()


def test_render_command_line_check_mode() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", "--check", "dev", "prod"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_unknown_stack_is_a_clear_error(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["no-such-stack"]) == 1
    assert "no stack file Pulumi.no-such-stack.yaml (stacks: dev, prod)" in capsys.readouterr().err


@contextlib.contextmanager
def _stack_file(name: str, text: str) -> Iterator[None]:
    path = ROOT / f"Pulumi.{name}.yaml"
    path.write_text(text)
    try:
        yield
    finally:
        path.unlink()


@pytest.mark.parametrize(
    ("stack_yaml", "message"),
    [
        (
            "config:\n  aws:region: ap-northeast-1\n",
            "error: Stack 'cli-test' is missing configuration value 'acpw:istioVersion'\n",
        ),
        (
            'config:\n  acpw:istioVersion: "1.20"\n  acpw:matchHosts: www.example.com\n',
            "error: Stack 'cli-test' with configuration key 'acpw:matchHosts' must be of type "
            "'array<string>'\n",
        ),
    ],
    ids=["missing-required-key", "wrong-declared-type"],
)
def test_render_refuses_what_the_cli_refuses_with_its_message(
    stack_yaml: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _stack_file("cli-test", stack_yaml):
        assert main(["cli-test", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == message
    assert not (tmp_path / "cli-test").exists()


def test_render_accepts_a_stack_setting_only_what_is_required(tmp_path: Path) -> None:
    stack_yaml = (
        'config:\n  aws:region: ap-northeast-1\n  acpw:istioVersion: "1.30"\n  other:x: 1\n'
    )
    with _stack_file("cli-test", stack_yaml):
        assert main(["cli-test", "--out", str(tmp_path)]) == 0
    objects = list(yaml.safe_load_all((tmp_path / "cli-test" / "kubernetes.yaml").read_text()))
    assert any(o["metadata"].get("namespace") == "istio-system" for o in objects if o)


def test_render_without_the_declared_defaults_refuses_dev_like_the_cli_did(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = render.read_project()
    for key in ("acpw:cloudwatch", "acpw:gateways", "acpw:iam", "acpw:images"):
        del project["config"][key]["default"]
    monkeypatch.setattr(render, "read_project", lambda: project)
    assert main(["dev", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        "error: Stack 'dev' is missing configuration values "
        "'acpw:cloudwatch', 'acpw:gateways', 'acpw:iam' and 'acpw:images'\n"
    )


def test_render_command_prints_only_its_result_the_estimate_and_warnings(tmp_path: Path) -> None:
    """No ``Exception ignored in: <function BaseEventLoop.__del__ ...>`` at exit (it was
    intermittent, so a few runs); the monthly cost estimate is shown, as a preview shows it."""
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-m", "tools.render", "dev", "--out", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "Exception ignored" not in result.stderr
        assert "Traceback" not in result.stderr
        lines = result.stderr.splitlines()
        assert lines[0].startswith("info: stack dev: acpw:cost: estimated CloudWatch bill $")
        assert lines[1:] and all(line.startswith("warning: stack dev: ") for line in lines[1:])
        assert result.stdout.splitlines() == [
            f"wrote {tmp_path / 'dev' / name}"
            for name in ("kubernetes.yaml", "aws.yaml", "images.yaml", "outputs.yaml")
        ]


def test_render_leaves_no_event_loop_or_executor_thread_behind() -> None:
    """The cause of that noise: the loop's executor threads (each with its own loop, made by the
    mock monitor's callbacks) lived until interpreter exit, when their loops were collected."""

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        render_stack("dev")
        gc.collect()
    assert [t.name for t in threading.enumerate() if t.name.startswith("asyncio_")] == []
    assert mock_engine._loop is None
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_rendering_needs_only_the_runtime_requirements() -> None:
    """``make render`` installs only requirements.txt: the render must import nothing else."""
    import importlib.metadata
    import json

    code = (
        "import sys, tools.render, json; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    modules = set(json.loads(result.stdout))
    distributions = importlib.metadata.packages_distributions()
    runtime = {
        line.split("==")[0].strip().lower().replace("_", "-")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    allowed = set(runtime)
    for name in list(runtime):  # and what the runtime pins depend on
        allowed |= _requirements_closure(name)
    # The project's own packages, and setuptools' interpreter-start hook (a .pth file).
    own = {"acpw", "tools", "_distutils_hack"}
    imported = {
        dist.lower().replace("_", "-")
        for module in modules - set(sys.stdlib_module_names) - own
        for dist in distributions.get(module, [])
    }
    assert imported <= allowed, sorted(imported - allowed)
    assert "render: $(VENV)/.runtime" in (ROOT / "Makefile").read_text()


def _requirements_closure(name: str, seen: set[str] | None = None) -> set[str]:
    import importlib.metadata
    import re

    seen = set() if seen is None else seen
    if name in seen:
        return seen
    seen.add(name)
    try:
        requires = importlib.metadata.requires(name) or []
    except importlib.metadata.PackageNotFoundError:
        return seen
    for requirement in requires:
        if "extra ==" in requirement:
            continue
        dependency = re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0]
        _requirements_closure(dependency.lower().replace("_", "-"), seen)
    return seen

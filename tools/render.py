"""Offline render: run the real program under the Pulumi mock engine and write what it would apply.

    python -m tools.render dev            # writes rendered/dev/{kubernetes,aws,images,outputs}.yaml
    python -m tools.render dev --check    # exits 1 when the committed files are stale

Only the cloud and cluster APIs are mocked (tools/mock_engine.py). Stack config is read the way
the Pulumi CLI reads it: values from ``Pulumi.<stack>.yaml``, merged with the declarations of
``Pulumi.yaml`` under the CLI's rules (tools/cli_config.py): a stack the CLI would refuse (a
required key missing, a value of the wrong declared type) is refused with the CLI's message.
Secret values appear only as ``[secret]``; values only the cloud knows as ``[unknown: ...]``.
"""

from __future__ import annotations

import argparse
import logging
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

from acpw.config import ConfigError, load_yaml_file
from tools import cli_config, mock_engine, pulumi_sdk
from tools.mock_engine import Registration, is_secret

ROOT = Path(__file__).resolve().parent.parent
SECRET_MARK = "[secret]"
K8S_PREFIX = "kubernetes:"


@dataclass
class Render:
    """Everything one run of the program registered, exported and warned about."""

    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    """What the program logs at info level (the monthly cost estimate), shown like a preview."""
    registry_reads: list[str] = field(default_factory=list)
    """Image references whose digest the program reads from their registry (getRegistryImage)."""

    @property
    def kubernetes(self) -> list[dict[str, Any]]:
        """Every Kubernetes object the stack applies, secrets masked, sorted by kind/namespace/name."""
        objects = [_k8s_object(r) for r in self.registrations if _is_k8s_object(r)]
        return sorted(objects, key=_object_sort_key)

    @property
    def aws(self) -> list[dict[str, Any]]:
        """Each AWS resource's type, name and inputs, secrets masked."""
        resources = [
            {"type": r.type, "name": r.name, "inputs": mask_secrets(r.inputs)}
            for r in self.registrations
            if r.type.startswith("aws:")
        ]
        return sorted(resources, key=lambda r: (r["type"], r["name"]))

    @property
    def exported_objects(self) -> list[dict[str, Any]]:
        """Objects the stack only exports for the user to apply: the IstioOperator for
        ``istioctl install -f`` on releases without the in-cluster operator (1.24+)."""
        text = self.outputs.get("istioOperatorYaml")
        if not isinstance(text, str) or any(
            o.get("kind") == "IstioOperator" for o in self.kubernetes
        ):
            return []
        return [yaml.safe_load(text)]

    @property
    def images(self) -> dict[str, Any]:
        """Where each image's digest comes from: pinned in config, or read from its registry at
        deploy time (pulumi-docker's getRegistryImage), and what the program registers to pull
        it (ECR pull-through cache rules and templates). No dynamic provider resource."""
        return {
            "readFromRegistry": sorted(self.registry_reads),
            "pullThroughCache": sorted(
                (
                    {"name": r.name, "inputs": mask_secrets(r.inputs)}
                    for r in self.registrations
                    if r.type == "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
                ),
                key=lambda r: r["name"],
            ),
            "dynamicResources": sorted(
                r.name for r in self.registrations if r.type == mock_engine.DYNAMIC_TYPE
            ),
        }

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]


def _is_k8s_object(registration: Registration) -> bool:
    return (
        registration.custom
        and registration.type.startswith(K8S_PREFIX)
        and (not registration.type.startswith("pulumi:providers:"))
    )


def _k8s_object(registration: Registration) -> dict[str, Any]:
    obj = mask_secrets(registration.inputs)
    # Patch resources carry the kind they patch; the render shows them as that kind.
    return {k: obj[k] for k in sorted(obj, key=_field_order)}


def _field_order(key: str) -> tuple[int, str]:
    order = ["apiVersion", "kind", "metadata", "type"]
    return (order.index(key) if key in order else len(order), key)


def _object_sort_key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return (obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))


def mask_secrets(value: Any, *, inside_secret: bool = False) -> Any:
    """Replace secret values by ``[secret]`` (a secret map keeps its keys), sort maps, fix numbers.

    The engine's wire format carries every number as a double; the objects hold integers.
    """
    if is_secret(value):
        return mask_secrets(value["value"], inside_secret=True)
    if isinstance(value, dict):
        return {k: mask_secrets(value[k], inside_secret=inside_secret) for k in sorted(value)}
    if isinstance(value, list):
        return [mask_secrets(v, inside_secret=inside_secret) for v in value]
    if inside_secret:
        return SECRET_MARK
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def read_project() -> dict[str, Any]:
    # Refuses duplicate keys, which YAML would let the last one win silently.
    project: dict[str, Any] = load_yaml_file(ROOT / "Pulumi.yaml")
    return project


def _merged_stack_config(stack: str) -> dict[str, cli_config.ConfigValue]:
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        raise FileNotFoundError(f"no stack file {stack_file.name} (stacks: {', '.join(_stacks())})")
    values = (load_yaml_file(stack_file) or {}).get("config") or {}
    return cli_config.merge(read_project(), stack, values)


def stack_program_config(stack: str) -> dict[str, str]:
    """The config the CLI hands the program for ``stack`` (``PULUMI_CONFIG``: every value a string).

    Raises :class:`cli_config.StackConfigError` where ``pulumi preview`` would refuse the stack.
    """
    return {key: value.text for key, value in _merged_stack_config(stack).items()}


def read_stack_config(stack: str) -> dict[str, Any]:
    """The same config with objects and lists decoded (what the program reads from it)."""
    return {key: value.content() for key, value in _merged_stack_config(stack).items()}


def _stacks() -> list[str]:
    return sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))


class _WarningCollector(logging.Handler):
    """Warnings, and the program's own info lines (``acpw:...``), as a preview shows them."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []
        self.infos: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())
        elif record.getMessage().startswith("acpw:"):
            self.infos.append(record.getMessage())


def render_stack(
    stack: str,
    config: dict[str, Any] | None = None,
    *,
    live: dict[str, dict[str, Any]] | None = None,
    preview: bool = False,
) -> Render:
    """Run ``__main__.py`` for ``stack``, or with ``config`` (keys like ``acpw:istioVersion``).

    Without ``config`` the stack file goes through the CLI's project-config rules first
    (:class:`cli_config.StackConfigError`); ``config`` is taken as the program would receive it.
    ``live``: the gateway Deployments as the cluster has them (``namespace/name`` to object), for
    the program's reads; by default every gateway is one without ACPW. ``preview``: as a first
    ``pulumi preview``, where what the cloud computes (ids, ARNs, URLs, digests) is unknown.
    Raises :class:`ConfigError` for invalid config; ``.registrations`` is then empty by design.
    """
    values = stack_program_config(stack) if config is None else dict(config)
    project = str(read_project()["name"])
    monitor = mock_engine.install(
        project, stack, mock_engine.config_values(project, values), live=live, preview=preview
    )
    collector = _WarningCollector()
    logger = logging.getLogger("acpw.render")
    logger.addHandler(collector)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        pulumi_sdk.run_program(_run_program)
        outputs = _stack_outputs()
    finally:
        logger.removeHandler(collector)
        mock_engine.shutdown()
    mocks = (
        monitor.mocks
        if isinstance(getattr(monitor, "mocks", None), mock_engine.RecordingMocks)
        else None
    )
    return Render(
        stack,
        list(monitor.registrations),
        outputs,
        collector.messages,
        collector.infos,
        list(mocks.registry_reads) if mocks else [],
    )


def last_monitor_registrations() -> list[Registration]:
    """Registrations recorded by the current mock monitor (e.g. after a ConfigError)."""
    monitor = pulumi_sdk.current_monitor()
    return list(monitor.registrations) if isinstance(monitor, mock_engine.RecordingMonitor) else []


def _run_program() -> None:
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")


def _stack_outputs() -> dict[str, Any]:
    root = pulumi.runtime.get_root_resource()
    raw: dict[str, Any] = getattr(root, "outputs", {}) or {}
    resolved = {}
    for name, value in raw.items():
        output = pulumi.Output.from_input(value)
        secret = pulumi_sdk.sync_await(output.is_secret())
        resolved[name] = SECRET_MARK if secret else pulumi_sdk.sync_await(output.future())
    return resolved


class _BlockStyleDumper(yaml.SafeDumper):
    """Multi-line strings (the bootstrap JSON, the IstioOperator YAML) as readable ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStyleDumper.add_representer(str, _represent_str)


def _dump(value: Any, *, sort_keys: bool) -> str:
    return yaml.dump(
        value, Dumper=_BlockStyleDumper, sort_keys=sort_keys, default_flow_style=False, width=100
    )


def _dump_documents(objects: list[dict[str, Any]], comments: list[str]) -> str:
    parts = []
    for comment, obj in zip(comments, objects, strict=True):
        body = _dump(obj, sort_keys=False)
        parts.append(f"# {comment}\n{body}")
    return "---\n".join(parts)


def files_for(render: Render) -> dict[str, str]:
    """The rendered files' names and contents (deterministic)."""
    k8s_regs = sorted(
        (r for r in render.registrations if _is_k8s_object(r)),
        key=lambda r: _object_sort_key(_k8s_object(r)),
    )
    exported = render.exported_objects
    kubernetes = _dump_documents(
        [_k8s_object(r) for r in k8s_regs] + exported,
        [f"{r.type} ({r.name})" for r in k8s_regs]
        + ["stack output istioOperatorYaml: for `istioctl install -f`, not applied by Pulumi"]
        * len(exported),
    )
    header = (
        f"# Offline render of stack '{render.stack}' (tools/render.py). Secrets appear as "
        f"{SECRET_MARK}; values only the cloud knows as [unknown: ...] (the AWS account id as "
        "unknown-aws-account-id, where a hostname needs it).\n"
    )
    aws = _dump(render.aws, sort_keys=True)
    images = _dump(render.images, sort_keys=True)
    outputs = _dump(render.outputs, sort_keys=True)
    return {
        "kubernetes.yaml": header + kubernetes,
        "aws.yaml": header + aws,
        "images.yaml": header + images,
        "outputs.yaml": header + outputs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="+", help="stack names (Pulumi.<stack>.yaml)")
    parser.add_argument("--check", action="store_true", help="fail when rendered/ is stale")
    parser.add_argument("--out", default=str(ROOT / "rendered"), help="output directory")
    args = parser.parse_args(argv)
    stale = []
    for stack in args.stacks:
        try:
            render = render_stack(stack)
        except cli_config.StackConfigError as error:
            print(f"error: {error}", file=sys.stderr)  # the CLI's message names the stack
            return 1
        except (ConfigError, FileNotFoundError) as error:
            print(f"stack {stack}: {error}", file=sys.stderr)
            return 1
        for info in render.infos:
            print(f"info: stack {stack}: {info}", file=sys.stderr)
        for warning in render.warnings:
            print(f"warning: stack {stack}: {warning}", file=sys.stderr)
        out_dir = Path(args.out) / stack
        for filename, content in files_for(render).items():
            path = out_dir / filename
            if args.check:
                if not path.exists() or path.read_text() != content:
                    stale.append(str(path))
                continue
            out_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            print(f"wrote {path}")
    if stale:
        print(
            "stale render (run `make render STACK=<stack>` and commit):\n  " + "\n  ".join(stale),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

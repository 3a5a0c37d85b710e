"""The packaged component (acpw/component.py, provider/): schema snapshot, interface, gRPC host.

The provider is started as the Pulumi CLI starts a ``runtime: python`` plugin: the Python
language host's ``RunPlugin`` runs ``python <plugin directory> <engine address>`` (the
directory's ``__main__.py``) in the consumer's working directory, and reads the port of the
plugin's gRPC server from the first line of its stdout. The tests then speak the
ResourceProvider protocol to it on loopback: ``GetPluginInfo``, ``GetSchema`` and ``Construct``,
the latter against a mock engine and resource monitor served from this process (also loopback),
which record every registration the component makes.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
import typing
from collections.abc import Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import (
    engine_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
)
from pydantic import BaseModel

from acpw import component, component_inputs
from acpw.config import ConfigError, load_config
from acpw.config.models import (
    AcpwConfig,
    CloudWatchConfig,
    GatewayConfig,
    IamConfig,
    ImagesConfig,
    ReceiverConfig,
)
from acpw.config.observability import CostConfig, HeartbeatConfig, ObservabilityConfig
from tools import mock_engine, pulumi_sdk
from tools.provider_schema import SNAPSHOT, render

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_DIR = ROOT / "provider"
PROJECT, STACK = "consumer", "test"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""How the engine sends a value unknown in a preview (a sentinel string of the gRPC protocol)."""
SIG = "4dabf18193072939515e22adb298388d"
"""The key marking a special value on the wire (pulumi/runtime/rpc.py ``_special_sig_key``)."""


def secret(value: Any) -> dict[str, Any]:
    """A secret as the engine sends it (YAML ``fn::secret``, ``pulumi.secret`` in TypeScript)."""
    return {SIG: "1b47061264138c4ac30d75fd1eb44270", "value": value}


def output_value(value: Any = None, *, known: bool = True, dependencies: Sequence[str] = ()) -> Any:
    """An output value as the engine sends it (``pulumi.output({...})``, another resource's
    output): ``rpc.py`` ``_special_output_value_sig``; an unknown one carries no ``value``."""
    wire: dict[str, Any] = {SIG: "d0e6a833031e9bbcd3f4e8bde6ca49a4"}
    wire["dependencies"] = list(dependencies)
    if known:
        wire["value"] = value
    return wire


def snapshot() -> dict[str, Any]:
    return dict(json.loads(SNAPSHOT.read_text(encoding="utf-8")))


# --- the schema and the interface -----------------------------------------------------------


def test_inferred_schema_matches_the_snapshot() -> None:
    """Any change of the public interface shows up as a diff of provider/schema.json."""
    assert render(component.inferred_schema()) == SNAPSHOT.read_text(encoding="utf-8"), (
        "provider/schema.json is stale: run python -m tools.provider_schema --write and review "
        "the diff (a renamed or removed input is a breaking change, see CHANGELOG.md)"
    )


def test_type_token_is_stable() -> None:
    from acpw.deployment import AcpwDeployment as PythonAcpwDeployment

    assert component.TYPE_TOKEN == "acpw:index:AcpwDeployment"
    assert list(snapshot()["resources"]) == ["acpw:index:AcpwDeployment"]
    assert snapshot()["name"] == "acpw"
    # The Python component registers under the same token (so a URN does not depend on the
    # language the component is used from).
    source = Path(sys.modules[PythonAcpwDeployment.__module__].__file__ or "").read_text()
    assert f'super().__init__("{component.TYPE_TOKEN}"' in source


def test_one_version_number() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    first_release = next(line for line in changelog.splitlines() if re.match(r"## \d", line))
    assert pyproject["project"]["version"] == component.VERSION
    assert snapshot()["version"] == component.VERSION
    assert first_release.startswith(f"## {component.VERSION} ")


def test_plugin_directory() -> None:
    import yaml

    plugin = yaml.safe_load((PROVIDER_DIR / "PulumiPlugin.yaml").read_text(encoding="utf-8"))
    assert plugin == {"runtime": "python"}
    # The CLI installs the plugin's virtualenv from here: the program's pins, no second list.
    requirements = (PROVIDER_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert [line for line in requirements if not line.startswith("#")] == ["-r ../requirements.txt"]
    assert (PROVIDER_DIR / "__main__.py").is_file()
    for module in (component, component_inputs):
        tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
        future = [
            n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"
        ]
        assert future == [], "the analyzer reads real annotations"


def _config_shape(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _input_shape(typed_dict: type) -> set[str]:
    from pulumi.provider.experimental.util import camel_case

    return {camel_case(key) for key in typed_dict.__annotations__}


@pytest.mark.parametrize(
    ("typed_dict", "model"),
    [
        (component_inputs.AcpwDeploymentArgs, AcpwConfig),
        (component_inputs.CloudWatch, CloudWatchConfig),
        (component_inputs.Receiver, ReceiverConfig),
        (component_inputs.Gateway, GatewayConfig),
        (component_inputs.Images, ImagesConfig),
        (component_inputs.Iam, IamConfig),
        (component_inputs.Observability, ObservabilityConfig),
        (component_inputs.Heartbeat, HeartbeatConfig),
        (component_inputs.Cost, CostConfig),
    ],
)
def test_inputs_have_the_config_models_keys(typed_dict: type, model: type[BaseModel]) -> None:
    """The inputs only describe the config's shape: a key added to the model must be added here."""
    assert _input_shape(typed_dict) == _config_shape(model)


def _properties(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    resource = schema["resources"][component.TYPE_TOKEN]
    for section in ("inputProperties", "properties"):
        for name, prop in resource[section].items():
            yield f"{section}.{name}", prop
    for type_name, typ in schema["types"].items():
        for name, prop in typ["properties"].items():
            yield f"{type_name}.{name}", prop


def test_every_input_and_output_is_documented() -> None:
    undocumented = [path for path, prop in _properties(snapshot()) if not prop.get("description")]
    assert undocumented == []


# --- inputs to config -------------------------------------------------------------------------


def test_raw_config_renames_only_the_interface_keys() -> None:
    raw = component.raw_config(
        {
            "istio_version": "1.30",
            "gateways": [
                {
                    "name": "public",
                    "namespace": "gw",
                    "selector": {"app_name": "public"},
                    "max_surge": "2",
                },
                {"name": "b", "namespace": "gw", "selector": {"app": "b"}, "max_surge": "50%"},
            ],
            "iam": {"key_generation": 2, "tags": {"cost_center": "x"}},
            "observability": {"no_data_minutes": 15, "heartbeat": {"enabled": False}},
            "fail_strategy": None,
        }
    )
    assert raw == {
        "istioVersion": "1.30",
        "gateways": [
            {
                "name": "public",
                "namespace": "gw",
                "selector": {"app_name": "public"},
                "maxSurge": 2,
            },
            {"name": "b", "namespace": "gw", "selector": {"app": "b"}, "maxSurge": "50%"},
        ],
        "iam": {"keyGeneration": 2, "tags": {"cost_center": "x"}},
        "observability": {"noDataMinutes": 15, "heartbeat": {"enabled": False}},
    }


def test_invalid_inputs_give_the_config_errors() -> None:
    """The same ConfigError text as the stack config path, naming the acpw:* keys."""
    args: dict[str, Any] = {
        "istio_version": "1.2",
        "images": {"registry": "quay", "ecr_keep_images": 0},
        "gateways": [{"name": "Bad_Name", "namespace": "gw", "selector": {}}],
    }
    raw = {
        "istioVersion": "1.2",
        "images": {"registry": "quay", "ecrKeepImages": 0},
        "gateways": [{"name": "Bad_Name", "namespace": "gw", "selector": {}}],
    }
    kwargs: dict[str, Any] = {"project": "p", "stack": "s", "aws_region": "ap-northeast-1"}
    with pytest.raises(ConfigError) as from_inputs:
        load_config(component.raw_config(args), **kwargs)
    with pytest.raises(ConfigError) as from_stack:
        load_config(raw, **kwargs)
    assert str(from_inputs.value) == str(from_stack.value)
    for key in ("acpw:istioVersion", "acpw:images.registry", "acpw:gateways[0].name"):
        assert key in str(from_inputs.value)


# --- the provider process over gRPC ---------------------------------------------------------


class _Monitor(mock_engine.RecordingMonitor):
    """The recording mock monitor with URNs of a fixed consumer stack."""

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        if parent and parent != STACK_URN:  # as the engine: the stack is no type prefix
            type_ = parent.split("::")[2].split("$")[-1] + "$" + type_
        return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


def _monitor_servicer(monitor: _Monitor) -> resource_pb2_grpc.ResourceMonitorServicer:
    class Servicer(resource_pb2_grpc.ResourceMonitorServicer):
        def SupportsFeature(self, request: Any, context: Any) -> Any:  # noqa: N802
            answer = monitor.SupportsFeature(request)
            return resource_pb2.SupportsFeatureResponse(hasSupport=answer.hasSupport)

        def RegisterResource(self, request: Any, context: Any) -> Any:  # noqa: N802
            return monitor.RegisterResource(request)

        def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:  # noqa: N802
            monitor.outputs[request.urn] = pulumi_sdk.deserialize_properties(request.outputs)
            return empty_pb2.Empty()

        def ReadResource(self, request: Any, context: Any) -> Any:  # noqa: N802
            return monitor.ReadResource(request)

        def Invoke(self, request: Any, context: Any) -> Any:  # noqa: N802
            return monitor.Invoke(request)

        def GetDeploymentInfo(self, request: Any, context: Any) -> Any:  # noqa: N802
            return monitor.GetDeploymentInfo(request)

        def RegisterPackage(self, request: Any, context: Any) -> Any:  # noqa: N802
            return monitor.RegisterPackage(request)

        def SignalAndWaitForShutdown(self, request: Any, context: Any) -> Any:  # noqa: N802
            return empty_pb2.Empty()

    return Servicer()


class _Engine(engine_pb2_grpc.EngineServicer):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.messages.append(request.message)
        return empty_pb2.Empty()


@dataclass
class Host:
    provider: provider_pb2_grpc.ResourceProviderStub
    monitor: _Monitor
    monitor_address: str
    engine: _Engine
    stderr: Path


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    work = tmp_path_factory.mktemp("consumer")
    monitor = _Monitor(mock_engine.RecordingMocks())
    monitor.outputs = {}  # type: ignore[attr-defined]
    engine = _Engine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(_monitor_servicer(monitor), server)
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    address = f"127.0.0.1:{port}"
    stderr = work / "provider.stderr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    with stderr.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, str(PROVIDER_DIR), address],
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline().decode().strip()
            assert line.isdigit(), f"no port handshake: {line!r} {stderr.read_text()}"
            channel = grpc.insecure_channel(f"127.0.0.1:{line}")
            grpc.channel_ready_future(channel).result(timeout=30)
            yield Host(
                provider_pb2_grpc.ResourceProviderStub(channel),
                monitor,
                address,
                engine,
                stderr,
            )
            channel.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
            server.stop(None)


def test_host_answers_plugin_info_and_schema(host: Host) -> None:
    info = host.provider.GetPluginInfo(empty_pb2.Empty(), timeout=30)
    assert info.version == component.VERSION
    schema = host.provider.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=30)
    assert json.loads(schema.schema) == snapshot()


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _construct(host: Host, name: str, inputs: dict[str, Any], *, dry_run: bool = False) -> Any:
    request = provider_pb2.ConstructRequest(
        project=PROJECT,
        stack=STACK,
        config={"aws:region": "ap-northeast-1"},
        dryRun=dry_run,
        parallel=4,
        monitorEndpoint=host.monitor_address,
        type=component.TYPE_TOKEN,
        name=name,
        parent=STACK_URN,
        inputs=_struct(inputs),
    )
    return host.provider.Construct(request, timeout=120)


def test_construct_registers_the_whole_deployment(host: Host) -> None:
    """Inputs as a YAML or TypeScript program sends them (camelCase, numbers as floats)."""
    response = _construct(
        host,
        "edge",
        {
            "istioVersion": "1.30",
            "gateways": [
                {
                    "name": "public-gateway",
                    "namespace": "gateway-public",
                    "selector": {"app": "public-gateway"},
                    "installer": "deploymentPatch",
                    "maxSurge": "2",
                }
            ],
            "matchHosts": ["www.example.com"],
            "iam": {"keyGeneration": 3.0, "tags": {"team": "platform"}},
        },
    )
    urn = f"urn:pulumi:{STACK}::{PROJECT}::{component.TYPE_TOKEN}::edge"
    assert response.urn == urn
    state = pulumi_sdk.deserialize_properties(response.state)
    assert state["userArn"] == "arn:aws:iam::unknown-aws-account-id:user/acpw/consumer-test"
    assert state["gateways"]["gateway-public/public-gateway"]["installer"] == "deploymentPatch"
    assert list(state["secretNames"]) == ["gateway-public"]
    assert state["generation"]
    assert "ap-northeast-1" in state["cloudwatchConsoleUrl"]
    assert "costEstimate" in state["observability"]

    mine = [r for r in host.monitor.registrations if r.urn.split("::")[-1].startswith("edge")]
    [top] = [r for r in mine if r.type == component.TYPE_TOKEN]
    assert top.parent == STACK_URN
    children = {r.type for r in mine if r.parent == urn}
    assert {
        "acpw:images:WasmImages",
        "acpw:credentials:Credentials",
        "acpw:istio:IstioResources",
        "acpw:gateway:GatewaySettings",
    } <= children
    [user] = [r for r in mine if r.type == "aws:iam/user:User"]
    assert user.inputs["path"] == "/acpw/"
    assert user.inputs["tags"]["team"] == "platform"
    assert any("-g3-" in r.name for r in mine if r.type == "aws:iam/accessKey:AccessKey")
    patch = [r for r in mine if r.type.startswith("kubernetes:apps/v1:Deployment")]
    assert patch, "the deploymentPatch gateway is patched"


def test_construct_in_a_preview(host: Host) -> None:
    """A preview (dryRun) constructs the same graph; an input still unknown then is refused."""
    response = _construct(host, "preview", {"istioVersion": "1.13"}, dry_run=True)
    assert response.urn.endswith("::preview")
    with pytest.raises(grpc.RpcError) as error:
        _construct(
            host,
            "unknown",
            {"istioVersion": "1.30", "matchHosts": ["www.example.com", UNKNOWN]},
            dry_run=True,
        )
    message = typing.cast(grpc.Call, error.value).details() or ""
    assert "acpw:matchHosts[1]: is unknown until another resource is created" in message
    assert not [r for r in host.monitor.registrations if r.name.startswith("unknown")]


def _refusal(host: Host, name: str, inputs: dict[str, Any]) -> grpc.Call:
    with pytest.raises(grpc.RpcError) as error:
        _construct(host, name, inputs)
    assert not [r for r in host.monitor.registrations if r.name.startswith(name)]
    return typing.cast(grpc.Call, error.value)


def _mine(host: Host, name: str) -> list[mock_engine.Registration]:
    return [r for r in host.monitor.registrations if r.urn.split("::")[-1].startswith(name)]


def test_object_inputs_given_as_secrets_or_outputs_are_honoured(host: Host) -> None:
    """The SDK's input mapping turns these into ``{}`` (the defaults); the provider resolves them."""
    dependency = f"urn:pulumi:{STACK}::{PROJECT}::aws:iam/policy:Policy::boundary"
    response = _construct(
        host,
        "wrapped",
        {
            "istioVersion": "1.30",
            "iam": secret({"path": "/platform/acpw/", "tags": {"team": secret("platform")}}),
            "cloudwatch": output_value(
                {"namespace": "Example/Wrapped", "requestTimeoutMs": 3000.0},
                dependencies=[dependency],
            ),
            "gateways": [
                output_value(
                    {
                        "name": "public-gateway",
                        "namespace": "gateway-public",
                        "selector": {"app": "public-gateway"},
                        "installer": "deploymentPatch",
                        "maxSurge": "2",
                    }
                )
            ],
        },
    )
    state = pulumi_sdk.deserialize_properties(response.state)
    assert state["userArn"].endswith(":user/platform/acpw/consumer-test")
    assert list(state["gateways"]) == ["gateway-public/public-gateway"]
    assert "Example%2FWrapped" in state["cloudwatchConsoleUrl"] or (
        "Example/Wrapped" in state["cloudwatchConsoleUrl"]
    )
    [user] = [r for r in _mine(host, "wrapped") if r.type == "aws:iam/user:User"]
    assert user.inputs["tags"]["team"] == "platform"
    [strategy] = [
        r
        for r in _mine(host, "wrapped")
        if r.type == "kubernetes:apps/v1:DeploymentPatch" and "strategy" in r.inputs["spec"]
    ]
    assert strategy.inputs["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 2


def test_a_refused_secret_input_is_not_quoted(host: Host) -> None:
    """The config's messages quote the value; for a secret input the refusal names the key only."""
    call = _refusal(
        host,
        "secretbad",
        {
            "istioVersion": "1.30",
            "iam": secret({"userName": "Sekrit Name!", "path": "/acpw/"}),
            "failStrategy": "sideways",
        },
    )
    message = call.details() or ""
    assert "acpw:iam.userName: not valid; the value is a secret" in message
    assert "Sekrit" not in message
    assert "Sekrit" not in str(call.trailing_metadata())
    # Plain inputs are still told in full.
    assert "acpw:failStrategy: " in message and "sideways" in message


def test_unknown_parts_of_wrapped_inputs_are_refused_in_a_preview(host: Host) -> None:
    with pytest.raises(grpc.RpcError) as error:
        _construct(
            host,
            "halfknown",
            {
                "istioVersion": "1.30",
                "iam": secret({"path": UNKNOWN}),
                "cloudwatch": output_value(known=False),
                "gateways": [
                    {
                        "name": "public-gateway",
                        "namespace": "gateway-public",
                        "selector": {"app": UNKNOWN},
                        "installer": "deploymentPatch",
                    }
                ],
            },
            dry_run=True,
        )
    message = typing.cast(grpc.Call, error.value).details() or ""
    # A secret holding an unknown is an unknown output as a whole (the host wraps it so).
    assert "acpw:iam: is unknown" in message
    assert "acpw:cloudwatch: is unknown" in message
    assert "acpw:gateways[0].selector.app: is unknown" in message
    assert not _mine(host, "halfknown")


def test_an_unknown_input_name_is_refused_with_the_allowed_names(host: Host) -> None:
    call = _refusal(
        host,
        "typo",
        {"istioVersion": "1.30", "gatways": [], "iam": {"keyGenration": 2.0}},
    )
    assert call.code() == grpc.StatusCode.INVALID_ARGUMENT
    message = call.details() or ""
    assert "acpw:gatways: unknown key; allowed: cloudwatch, cost, failStrategy, gateways" in message
    assert "(did you mean 'gateways'?)" in message
    assert "acpw:iam.keyGenration: unknown key" in message
    assert "(did you mean 'keyGeneration'?)" in message


def test_a_wrong_type_reaches_the_caller_with_its_message(host: Host) -> None:
    """INVALID_ARGUMENT with the config's message, and one detail per key for the engine."""
    from pulumi.runtime.proto import errors_pb2, status_pb2

    call = _refusal(host, "wrongtype", {"istioVersion": "1.30", "iam": {"keyGeneration": "two"}})
    assert call.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "acpw:iam.keyGeneration: 'two' is not a whole number" in (call.details() or "")
    trailer = dict(call.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(trailer)
    [packed] = status.details
    details = errors_pb2.InputPropertiesError()
    assert packed.Unpack(details)
    assert [(e.property_path, e.reason) for e in details.errors] == [
        ("iam.keyGeneration", "'two' is not a whole number")
    ]


def test_construct_reports_config_errors(host: Host) -> None:
    with pytest.raises(grpc.RpcError) as error:
        _construct(
            host,
            "broken",
            {"istioVersion": "1.30", "failStrategy": "sideways", "matchHosts": ["*.example.com"]},
        )
    message = typing.cast(grpc.Call, error.value).details() or ""
    assert "acpw:failStrategy" in message
    assert "acpw:matchHosts" in message
    assert not [r for r in host.monitor.registrations if r.name.startswith("broken")]


# --- examples -------------------------------------------------------------------------------

EXAMPLES = ROOT / "examples"


def _yaml_example() -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load((EXAMPLES / "yaml" / "Pulumi.yaml").read_text(encoding="utf-8")))


def _type_problems(
    value: Any, prop: dict[str, Any], schema: dict[str, Any], path: str
) -> list[str]:
    """Where ``value`` does not fit the schema property ``prop`` (types, names, required keys)."""
    if isinstance(value, str) and value.startswith("${"):
        return []  # an interpolation: typed by the program, not here
    ref = prop.get("$ref")
    if ref:
        typ = schema["types"][ref.removeprefix("#/types/")]
        return _object_problems(value, typ["properties"], typ.get("required", []), schema, path)
    kind = prop["type"]
    python_types: dict[str, tuple[type, ...]] = {
        "string": (str,),
        "integer": (int,),
        "number": (int, float),
        "boolean": (bool,),
        "array": (list,),
        "object": (dict,),
    }
    if not isinstance(value, python_types[kind]) or (
        kind in ("integer", "number") and isinstance(value, bool)
    ):
        return [f"{path}: {value!r} is not of type {kind}"]
    if isinstance(value, list):
        return [
            p
            for i, item in enumerate(value)
            for p in _type_problems(item, prop["items"], schema, f"{path}[{i}]")
        ]
    if isinstance(value, dict) and "additionalProperties" in prop:
        return [
            p
            for key, item in value.items()
            for p in _type_problems(item, prop["additionalProperties"], schema, f"{path}.{key}")
        ]
    return []


def _object_problems(
    value: Any,
    properties: dict[str, Any],
    required: list[str],
    schema: dict[str, Any],
    path: str,
) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: {value!r} is not an object"]
    problems = [f"{path}.{key}: not in the schema" for key in value if key not in properties]
    problems += [f"{path}.{key}: required" for key in required if key not in value]
    for key, item in value.items():
        if key in properties:
            problems += _type_problems(item, properties[key], schema, f"{path}.{key}")
    return problems


def _yaml_component() -> tuple[str, dict[str, Any]]:
    [(name, resource)] = [
        (name, r)
        for name, r in _yaml_example()["resources"].items()
        if r["type"] == component.TYPE_TOKEN
    ]
    return name, resource


def test_yaml_example_inputs_fit_the_schema() -> None:
    schema = snapshot()
    resource_schema = schema["resources"][component.TYPE_TOKEN]
    name, resource = _yaml_component()
    problems = _object_problems(
        resource["properties"],
        resource_schema["inputProperties"],
        resource_schema.get("requiredInputs", []),
        schema,
        name,
    )
    assert problems == []
    # A misspelt or mistyped input is caught by the same check.
    wrong = {**resource["properties"], "matchHost": [], "iam": {"keyGeneration": "2"}}
    assert len(_object_problems(wrong, resource_schema["inputProperties"], [], schema, name)) == 2


def test_yaml_example_outputs_exist() -> None:
    outputs = resource_outputs = snapshot()["resources"][component.TYPE_TOKEN]["properties"]
    name, _ = _yaml_component()
    used = [
        ref.removeprefix("${").removesuffix("}").split(".")
        for ref in _yaml_example()["outputs"].values()
    ]
    for parts in used:
        assert parts[0] == name
        assert parts[1] in resource_outputs, parts
    observability = outputs["observability"]["$ref"].removeprefix("#/types/")
    assert "dashboardUrl" in snapshot()["types"][observability]["properties"]


def test_yaml_example_package_is_this_provider() -> None:
    source = _yaml_example()["packages"]["acpw"]
    assert (EXAMPLES / "yaml" / source).resolve() == PROVIDER_DIR


def test_yaml_example_constructs(host: Host) -> None:
    """The example's properties, sent as the YAML runtime sends them, pass the config rules."""
    name, resource = _yaml_component()
    response = _construct(host, f"yaml-{name}", resource["properties"])
    state = pulumi_sdk.deserialize_properties(response.state)
    assert set(state["gateways"]) == {
        "gateway-public/public-gateway",
        "gateway-partner/partner-gateway",
    }
    assert "/platform/acpw/" in state["userArn"]
    # Every registered resource is served by a provider plugin: no dynamic provider, whose
    # Python class a YAML (or TypeScript, Go, ...) project cannot load (pulumi/pulumi#5455).
    mine = _mine(host, f"yaml-{name}")
    assert mine
    packages = {r.type.split(":", 1)[0] for r in mine if r.custom}
    assert packages <= {"aws", "kubernetes", "docker", "pulumi"}, packages
    assert not [r for r in mine if r.type == mock_engine.DYNAMIC_TYPE]


def test_yaml_example_with_a_secret_object_input(host: Host) -> None:
    """``iam: {fn::secret: {...}}`` in the YAML program: the same user as the plain input."""
    name, resource = _yaml_component()
    properties = {**resource["properties"], "iam": secret(resource["properties"]["iam"])}
    response = _construct(host, f"yamlsecret-{name}", properties)
    state = pulumi_sdk.deserialize_properties(response.state)
    assert "/platform/acpw/" in state["userArn"]
    [user] = [r for r in _mine(host, f"yamlsecret-{name}") if r.type == "aws:iam/user:User"]
    assert user.inputs["tags"]["team"] == "platform"


def test_python_example_is_the_readme_snippet() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start: the component", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert (EXAMPLES / "python" / "__main__.py").read_text(encoding="utf-8") == snippet


def test_python_example_runs_under_mocks() -> None:
    import runpy

    import pulumi

    monitor = mock_engine.install("acpw-python-example", "dev", {})
    try:
        pulumi_sdk.run_program(
            lambda: runpy.run_path(str(EXAMPLES / "python" / "__main__.py"), run_name="__main__")
        )
        root = pulumi.runtime.get_root_resource()
        outputs: dict[str, Any] = getattr(root, "outputs", {}) or {}
        user_arn = pulumi_sdk.sync_await(pulumi.Output.from_input(outputs["acpwUser"]).future())
    finally:
        mock_engine.shutdown()
    types = [r.type for r in monitor.registrations]
    assert types.count(component.TYPE_TOKEN) == 1
    assert "aws:iam/user:User" in types
    assert "kubernetes:networking.istio.io/v1alpha3:EnvoyFilter" in types or any(
        t.startswith("kubernetes:extensions.istio.io") for t in types
    )
    providers = {r.name for r in monitor.registrations if r.type.startswith("pulumi:providers:")}
    assert providers == {"aws", "k8s"}
    # The running stack's names, not ones copied from the snippet: one IAM user per stack.
    assert user_arn == "arn:aws:iam::unknown-aws-account-id:user/acpw/acpw-python-example-dev"


def test_a_refused_secret_input_from_python_is_not_quoted() -> None:
    import pulumi

    mock_engine.install("adapter", "dev", {"aws:region": "ap-northeast-1"})
    try:
        with pytest.raises(ConfigError) as error:
            pulumi_sdk.run_program(
                lambda: component.AcpwDeployment(
                    "acpw",
                    {
                        "istio_version": "1.30",
                        "iam": {"user_name": pulumi.Output.secret("Sekrit Name!")},
                    },
                )
            )
    finally:
        mock_engine.shutdown()
    assert "acpw:iam.userName: not valid; the value is a secret" in str(error.value)
    assert "Sekrit" not in str(error.value)


def test_packaged_class_from_python_is_the_python_component() -> None:
    """The adapter adds no resource: from Python it returns the component itself."""
    from acpw.deployment import AcpwDeployment as PythonAcpwDeployment

    monitor = mock_engine.install("adapter", "dev", {"aws:region": "ap-northeast-1"})
    built: list[object] = []
    try:
        pulumi_sdk.run_program(
            lambda: built.append(
                component.AcpwDeployment("acpw", {"istio_version": "1.30", "match_hosts": []})
            )
        )
    finally:
        mock_engine.shutdown()
    [deployment] = built
    assert type(deployment) is PythonAcpwDeployment
    assert [r.type for r in monitor.registrations].count(component.TYPE_TOKEN) == 1

"""``receiver.module: batching``: what the render gives the pod, the bootstrap and the generation."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from acpw.config import load_config
from acpw.contract import RECEIVER_WASM_DIR, WASM_VOLUME
from acpw.gateway import gateway_pod_changes
from acpw.generations import Generation, RolloutSpec
from acpw.receiver import receiver_bootstrap, receiver_configuration
from acpw.receiver_module import batching_module, batching_module_sha256
from tests.matrix import matrix_config, with_public_images
from tools.render import render_stack


def _config(module: str = "batching", **receiver: Any):  # type: ignore[no-untyped-def]
    return load_config(
        {"istioVersion": "1.30", "receiver": {"module": module, **receiver}},
        project="acpw",
        stack="dev",
        aws_region="eu-west-1",
    )


def _generation(config: Any) -> Generation:
    return Generation(RolloutSpec.from_config(config), "oci://x", None, "img")


def test_the_module_configmap_replaces_the_init_container() -> None:
    config = _config()
    changes = gateway_pod_changes(config, _generation(config))
    assert changes.init_containers == []
    volume = next(v for v in changes.volumes if v["name"] == WASM_VOLUME)
    # The module's ConfigMap, named by the module's sha256 (what the program ships).
    module = f"acpw-receiver-module-{batching_module_sha256()[:10]}"
    assert volume == {"name": WASM_VOLUME, "configMap": {"name": module, "defaultMode": 0o444}}
    mount = next(m for m in changes.proxy_volume_mounts if m["name"] == WASM_VOLUME)
    assert mount == {"name": WASM_VOLUME, "mountPath": RECEIVER_WASM_DIR, "readOnly": True}


def test_the_published_module_keeps_the_init_container() -> None:
    config = _config("published")
    changes = gateway_pod_changes(config, _generation(config))
    assert len(changes.init_containers) == 1
    assert {"name": WASM_VOLUME, "emptyDir": {}} in changes.volumes


def test_the_bootstrap_carries_the_batching_settings_and_no_keys() -> None:
    config = _config(flushSeconds=30, maxSeries=200)
    values = json.loads(receiver_configuration(config))
    assert (values["flush_seconds"], values["max_series"]) == (30, 200)
    assert values["cloud_watch_cluster_name"].startswith("acpw-signed|443||")
    service = receiver_bootstrap(config)["bootstrap_extensions"][0]["typed_config"]
    assert "environment_variables" not in service["config"]["vm_config"]
    published = json.loads(receiver_configuration(_config("published")))
    assert "flush_seconds" not in published and "max_series" not in published


def test_the_generation_names_the_module_and_older_ids_hold() -> None:
    batching = RolloutSpec.from_config(_config())
    assert batching.receiver_module_sha256 == batching_module_sha256()
    assert json.loads(batching.to_json())["receiver_module"] == "batching"
    published = json.loads(RolloutSpec.from_config(_config("published")).to_json())
    # Left out at their defaults: the ids of generations recorded before them are unchanged.
    for key in ("receiver_module", "flush_seconds", "max_series", "receiver_module_sha256"):
        assert key not in published
    assert RolloutSpec.from_json(batching.to_json()) == batching
    assert batching.config(_config("published")).receiver.module == "batching"


def test_render_delivers_the_module_bytes_retained_on_delete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tools.mock_engine as engine

    retained: dict[str, bool] = {}
    original = engine.RecordingMonitor.RegisterResource

    def record(self: Any, request: Any) -> Any:
        retained[request.name] = bool(request.retainOnDelete)
        return original(self, request)

    monkeypatch.setattr(engine.RecordingMonitor, "RegisterResource", record)
    config = with_public_images(
        matrix_config("1.30", cloudwatch={"region": "eu-west-1"}, receiver={"module": "batching"})
    )
    objects = render_stack("matrix", config=config).kubernetes
    modules = [o for o in objects if o["kind"] == "ConfigMap" and "binaryData" in o]
    assert modules and all(
        base64.b64decode(o["binaryData"]["receiver.wasm"]) == batching_module() for o in modules
    )
    names = [n for n in retained if "receiver-module" in n]
    assert names and all(retained[n] for n in names), retained
    assert not any(retained[n] for n in retained if "bootstrap" in n and "configmap" in n)


@pytest.mark.parametrize("registry", ["ghcr", "ecr"])
def test_batching_reads_caches_and_pulls_no_receiver_volume_image(registry: str) -> None:
    config = matrix_config(
        "1.30", cloudwatch={"region": "eu-west-1"}, receiver={"module": "batching"}
    )
    images = {k: v for k, v in config["acpw:images"].items() if k != "receiverVolumeDigest"}
    config["acpw:images"] = {**images, "registry": registry}
    if registry == "ghcr":
        config = with_public_images(config)
    render = render_stack("matrix", config=config)
    assert not any("aws-cloudwatch-proxy-wasm:" in ref for ref in render.registry_reads), (
        render.registry_reads
    )
    # Only the generation's spec (an annotation) still names the configured volume image.
    text = json.dumps(render.kubernetes).replace(
        '\\"receiver_volume\\":\\"ghcr.io/hatappi/aws-cloudwatch-proxy-wasm:v0.1.0\\"', ""
    )
    text += json.dumps(render.aws)
    assert "hatappi/aws-cloudwatch-proxy-wasm:v0.1.0" not in text
    assert "hatappi/aws-cloudwatch-proxy-wasm@" not in text

"""Generations: the spec and its id, reading a live gateway Deployment, and what an update keeps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from acpw.config import ConfigError, load_config
from acpw.contract import (
    GENERATIONS_ANNOTATION,
    INIT_CONTAINER,
    LEGACY_HASH_ANNOTATION,
    OFF,
    ROLLOUT_LABEL,
    ROLLOUT_SPEC_ANNOTATION,
    SENDER_ANNOTATION,
)
from acpw.generations import (
    LEGACY,
    Generation,
    RolloutSpec,
    generations_record,
    parse_live_deployment,
    plan_generations,
)
from tests.matrix import GHCR_CREDENTIAL

GW = "istio-system/istio-ingressgateway"


def spec(**raw: Any) -> RolloutSpec:
    config = load_config(
        {"istioVersion": "1.30", **raw}, project="acpw", stack="t", aws_region="ap-northeast-1"
    )
    return RolloutSpec.from_config(config)


def kept(s: RolloutSpec) -> Generation:
    return Generation(s, "oci://r/s:1", "ab" * 32, "r/v:1@sha256:" + "cd" * 32)


def deployment(
    template: Generation | None,
    *,
    settled: bool = True,
    record: list[Generation] | None = None,
    legacy_hash: str | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    labels = {"app": "gw"}
    annotations: dict[str, str] = {}
    init = []
    if template is not None:
        labels[ROLLOUT_LABEL] = template.spec.id
        annotations[ROLLOUT_SPEC_ANNOTATION] = template.spec.to_json()
        sender = template.sender()
        assert isinstance(sender, str)  # a kept generation's images are plain
        annotations[SENDER_ANNOTATION] = sender
        init = [{"name": INIT_CONTAINER, "image": template.receiver_image}]
    if label:
        labels[ROLLOUT_LABEL] = label
    if legacy_hash:
        annotations[LEGACY_HASH_ANNOTATION] = legacy_hash
    meta: dict[str, Any] = {"generation": 4}
    if record is not None:
        meta["annotations"] = {GENERATIONS_ANNOTATION: generations_record(record, legacy=False)}
    return {
        "metadata": meta,
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"initContainers": init},
            },
        },
        "status": {
            "observedGeneration": 4,
            "replicas": 3 if settled else 4,
            "updatedReplicas": 3 if settled else 1,
            "availableReplicas": 3,
        },
    }


def test_the_spec_round_trips_and_its_id_follows_it() -> None:
    first = spec()
    assert RolloutSpec.from_json(first.to_json()) == first
    assert spec(iam={"keyGeneration": 2}).id != first.id
    assert spec(iam={"tags": {"a": "b"}}).id == first.id


def test_a_live_deployment_reads_back_its_generation() -> None:
    current = kept(spec())
    live = parse_live_deployment(GW, deployment(current, record=[current]))
    assert live.template == current
    assert live.template_generation == current.spec.id
    assert live.recorded == (current,)
    assert live.settled
    assert (
        parse_live_deployment(GW, deployment(None, legacy_hash="h")).template_generation == LEGACY
    )
    assert parse_live_deployment(GW, deployment(None, label=OFF)).template is None
    assert parse_live_deployment(GW, {}).template_generation is None


def test_hand_edited_annotations_are_reported() -> None:
    broken = deployment(kept(spec()))
    del broken["spec"]["template"]["metadata"]["annotations"][ROLLOUT_SPEC_ANNOTATION]
    with pytest.raises(ValueError, match="cannot be read"):
        parse_live_deployment(GW, broken)


def test_an_awaited_gateway_keeps_nothing() -> None:
    old, new = kept(spec()), spec(iam={"keyGeneration": 2})
    live = {GW: parse_live_deployment(GW, deployment(old))}
    plan = plan_generations(new, live, awaited={GW}, revoke_previous_key=False)
    assert plan.retained == []
    assert plan.keys(new) == [new.key]


def test_istioctl_keeps_what_pods_run_until_the_rollout_is_complete() -> None:
    old, new = kept(spec()), spec(iam={"keyGeneration": 2})
    before = {GW: parse_live_deployment(GW, deployment(old, record=[old]))}
    plan = plan_generations(new, before, awaited=set(), revoke_previous_key=False)
    assert plan.retained == [old]
    assert plan.keys(new) == [new.key, old.spec.key]
    assert any("run `istioctl install" in w for w in plan.warnings)
    # istioctl applied the new template, pods still rolling: both stay.
    newer = kept(new)
    rolling = {GW: parse_live_deployment(GW, deployment(newer, settled=False, record=[newer, old]))}
    plan = plan_generations(new, rolling, awaited=set(), revoke_previous_key=False)
    assert plan.retained == [old]
    # Rollout complete: the old generation goes.
    done = {GW: parse_live_deployment(GW, deployment(newer, record=[newer, old]))}
    plan = plan_generations(new, done, awaited=set(), revoke_previous_key=False)
    assert plan.retained == []
    assert plan.warnings == []


def test_a_third_key_for_one_user_is_refused() -> None:
    g1, g2 = kept(spec()), kept(spec(iam={"keyGeneration": 2}))
    g3 = spec(iam={"keyGeneration": 3})
    live = {GW: parse_live_deployment(GW, deployment(g1, record=[g2, g1]))}
    plan = plan_generations(g3, live, awaited=set(), revoke_previous_key=False)
    assert plan.problems and "IAM allows 2" in plan.problems[0]
    assert plan.problems[0].startswith("acpw:iam.keyGeneration:")


def test_revoke_names_the_gateways_and_keeps_the_key_deactivated() -> None:
    old, new = kept(spec()), spec(iam={"keyGeneration": 2})
    live = {GW: parse_live_deployment(GW, deployment(old))}
    plan = plan_generations(new, live, awaited={GW}, revoke_previous_key=True)
    assert plan.revoked == [old.spec.key]
    assert old.spec.key in plan.keys(new)
    [warning] = [w for w in plan.warnings if "revokePreviousKey" in w]
    assert GW in warning and "3 pods" in warning


def test_a_gateway_taken_off_keeps_its_generation_until_it_runs_without() -> None:
    current = kept(spec())
    live = {GW: parse_live_deployment(GW, deployment(current))}
    plan = plan_generations(
        current.spec, live, awaited=set(), revoke_previous_key=False, disabled={GW}
    )
    assert plan.retained == [current]
    off = {GW: parse_live_deployment(GW, deployment(None, label=OFF))}
    plan = plan_generations(
        current.spec, off, awaited=set(), revoke_previous_key=False, disabled={GW}
    )
    assert plan.retained == [] and plan.warnings == []


def test_the_record_is_json_the_next_update_reads() -> None:
    current = kept(spec())
    data = json.loads(generations_record([current], legacy=True))
    assert data[LEGACY] is True
    assert Generation.from_record(data["generations"][0]) == current


def test_the_program_refuses_the_plan_problems_as_config_errors() -> None:
    from tools.render import render_stack

    config = {
        "aws:region": "ap-northeast-1",
        "acpw:istioVersion": "1.30",
        "acpw:iam": {"keyGeneration": 3},
    }
    g1, g2 = kept(spec()), kept(spec(iam={"keyGeneration": 2}))
    live = {GW: deployment(g1, record=[g2, g1])}
    with pytest.raises(ConfigError, match="IAM allows 2"):
        render_stack("t", config=config, live=live)


def test_leaving_ecr_while_pods_pull_from_it_is_refused() -> None:
    old = kept(
        spec(images={"registry": "ecr", "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL}})
    )
    live = {GW: parse_live_deployment(GW, deployment(old))}
    plan = plan_generations(spec(), live, awaited=set(), revoke_previous_key=False)
    assert any(p.startswith("acpw:images.registry:") for p in plan.problems)
    awaited = plan_generations(spec(), live, awaited={GW}, revoke_previous_key=False)
    assert awaited.problems == []


def _spec(**raw: Any) -> RolloutSpec:
    config = load_config(
        {"istioVersion": "1.30", **raw}, project="acpw", stack="t", aws_region="ap-northeast-1"
    )
    return RolloutSpec.from_config(config)


def test_signing_and_credentials_at_their_old_defaults_keep_the_generation_id() -> None:
    spec = _spec()
    # Generations recorded before these fields existed keep their ids.
    assert "signing" not in json.loads(spec.to_json())
    assert "credentials" not in json.loads(spec.to_json())
    assert RolloutSpec.from_json(spec.to_json()) == spec
    envoy = _spec(cloudwatch={"signing": "envoy"})
    assert envoy.id != spec.id
    assert json.loads(envoy.to_json())["signing"] == "envoy"
    assert RolloutSpec.from_json(envoy.to_json()) == envoy


def test_keyless_generations_keep_no_key() -> None:
    from acpw.generations import Generation, GenerationPlan

    keyed = _spec()
    keyless = _spec(iam={"credentials": "podIdentity", "eksClusterName": "prod"})
    assert not keyless.uses_key
    kept = Generation(keyed, "oci://x", None, "img")
    assert GenerationPlan(retained=[kept]).keys(keyless) == [keyed.key]
    assert GenerationPlan().keys(keyless) == []
    back = Generation(keyless, "oci://x", None, "img")
    assert GenerationPlan(retained=[back]).keys(keyed) == [keyed.key]

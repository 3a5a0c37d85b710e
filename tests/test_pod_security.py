"""Every pod the program owns meets Pod Security "restricted", and every image it runs is by digest.

Pods the program owns in full: the rollout-check Jobs, the registry refresher (CronJob and
first-run Job), the heartbeat CronJob. Containers it adds in full to a pod it does not own: the
``acpw-receiver-wasm`` init container of the gateway pods (a Deployment patch, an IstioOperator
overlay). There the pod-level fields are the Istio installation's, so the container must meet
every rule on its own.

The rules are those of the Kubernetes Pod Security Standards, profile "restricted" (which
includes "baseline"), as the ``restricted`` level of Pod Security Admission checks them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_images import GATEWAYS, GHCR_CREDENTIAL, HUB_CREDENTIAL
from tools.render import Render, render_stack

ROOT = Path(__file__).resolve().parent.parent
RENDERS = ("dev", "prod")

RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
ALLOWED_SECCOMP = {"RuntimeDefault", "Localhost"}
BY_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64}|\[unknown: manifest digest of [^\]]+\])$")
"""A digest, or one the program resolves at deploy time (the render's placeholder for it)."""

EXTRA_CONFIGS: dict[str, dict[str, Any]] = {
    "operator-1.20": {"acpw:istioVersion": "1.20"},
    "istioctl-1.24": {"acpw:istioVersion": "1.24"},
    "ecr-irsa-own-namespace": {
        "acpw:istioVersion": "1.30",
        "acpw:gateways": GATEWAYS,
        "acpw:images": {
            "registry": "ecr",
            "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL},
            "refresherNamespace": "acpw-system",
            "refresherRoleArn": "arn:aws:iam::123456789012:role/acpw-ecr-refresher",
        },
    },
    "ecr-copied-tools": {
        "acpw:istioVersion": "1.30",
        "acpw:gateways": GATEWAYS,
        "acpw:images": {
            "registry": "ecr",
            "copyToolImages": True,
            "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL, "docker.io": HUB_CREDENTIAL},
        },
    },
}


# --- where the pod templates are ---------------------------------------------------------------


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(what, pod spec, owned): owned is False where only the added containers are ours."""
    for obj in objects:
        kind, meta = obj.get("kind"), obj.get("metadata") or {}
        what = f"{kind} {meta.get('namespace')}/{meta.get('name')}"
        spec = obj.get("spec") or {}
        if kind == "Job":
            yield what, spec["template"]["spec"], True
        elif kind == "CronJob":
            yield what, spec["jobTemplate"]["spec"]["template"]["spec"], True
        elif kind == "Deployment":
            # Only ever a server-side-apply patch of the user's gateway Deployment: the entries
            # with an image are containers it adds in full; istio-proxy's entry merges.
            template = (spec.get("template") or {}).get("spec") or {}
            added = {
                key: [c for c in template.get(key) or [] if c.get("image")]
                for key in ("initContainers", "containers")
            }
            if any(added.values()):
                yield what, added, False
        elif kind == "IstioOperator":
            for components in (spec.get("components") or {}).values():
                for component in components if isinstance(components, list) else []:
                    added = {"initContainers": [], "containers": []}
                    for overlay in (component.get("k8s") or {}).get("overlays") or []:
                        for patch in overlay.get("patches") or []:
                            match = re.match(
                                r"^spec\.template\.spec\.(initContainers|containers)\.\[\d+\]$",
                                str(patch.get("path", "")),
                            )
                            if match and isinstance(patch.get("value"), dict):
                                added[match[1]].append(patch["value"])
                    if any(added.values()):
                        yield f"{what} gateway {component.get('name')}", added, False


def all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *(spec.get("initContainers") or []),
        *(spec.get("containers") or []),
        *(spec.get("ephemeralContainers") or []),
    ]


# --- the profile -------------------------------------------------------------------------------


def restricted_violations(spec: dict[str, Any], owned: bool) -> list[str]:
    """What Pod Security Admission (level restricted) would refuse, by rule.

    ``owned`` False: a pod the program only adds containers to; pod-level settings do not count
    (they are not the program's), so each container must carry them itself.
    """
    found: list[str] = []
    pod_security = (spec.get("securityContext") or {}) if owned else {}
    # baseline: host namespaces, host ports, hostPath, privileged, capabilities, sysctls...
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if owned and spec.get(field):
            found.append(f"{field}: true")
    if owned:
        for volume in spec.get("volumes") or []:
            types = set(volume) - {"name"}
            if not types <= RESTRICTED_VOLUME_TYPES:
                found.append(f"volume {volume['name']}: type {sorted(types)} not allowed")
        for sysctl in pod_security.get("sysctls") or []:
            if sysctl.get("name") not in SAFE_SYSCTLS:
                found.append(f"sysctl {sysctl.get('name')} not allowed")
        if (pod_security.get("windowsOptions") or {}).get("hostProcess"):
            found.append("pod windowsOptions.hostProcess")
        if pod_security.get("runAsUser") == 0:
            found.append("pod runAsUser 0")
    pod_non_root = pod_security.get("runAsNonRoot") is True
    pod_seccomp = (pod_security.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP:
        found.append(f"pod seccompProfile {pod_seccomp}")
    for container in all_containers(spec):
        name = container.get("name")
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            found.append(f"{name}: hostPort")
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{name}: windowsOptions.hostProcess")
        if context.get("procMount") not in (None, "Default"):
            found.append(f"{name}: procMount {context['procMount']}")
        se_linux = (context.get("seLinuxOptions") or {}).get("type")
        if se_linux not in (None, "", "container_t", "container_init_t", "container_kvm_t"):
            found.append(f"{name}: seLinuxOptions.type {se_linux}")
        # restricted
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation must be false")
        if context.get("runAsNonRoot") is False or not (
            context.get("runAsNonRoot") is True or pod_non_root
        ):
            found.append(f"{name}: runAsNonRoot must be true (pod or container)")
        if context.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or {}).get("type")
        if seccomp is not None and seccomp not in ALLOWED_SECCOMP:
            found.append(f"{name}: seccompProfile {seccomp}")
        if seccomp is None and pod_seccomp is None:
            found.append(f"{name}: seccompProfile RuntimeDefault or Localhost (pod or container)")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{name}: capabilities.drop must include ALL")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            found.append(f"{name}: capabilities.add {sorted(added)}")
    return found


def hardening_violations(spec: dict[str, Any], owned: bool) -> list[str]:
    """Beyond the profile, what the project asks of its own containers."""
    found = []
    pod_security = (spec.get("securityContext") or {}) if owned else {}
    for container in all_containers(spec):
        name = container.get("name")
        context = container.get("securityContext") or {}
        uid = context.get("runAsUser", pod_security.get("runAsUser"))
        if not isinstance(uid, int) or uid < 10000:
            found.append(f"{name}: a fixed high non-root runAsUser (got {uid})")
        if context.get("readOnlyRootFilesystem") is not True:
            found.append(f"{name}: readOnlyRootFilesystem")
        limits = (container.get("resources") or {}).get("limits") or {}
        if not {"cpu", "memory"} <= set(limits):
            found.append(f"{name}: CPU and memory limits (got {sorted(limits)})")
    return found


# --- the renders ---------------------------------------------------------------------------------


def committed(stack: str) -> list[dict[str, Any]]:
    text = (ROOT / "rendered" / stack / "kubernetes.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


_RENDERS: dict[str, Render] = {}


def rendered(name: str) -> list[dict[str, Any]]:
    if name not in _RENDERS:
        config = {"aws:region": "ap-northeast-1", **EXTRA_CONFIGS[name]}
        _RENDERS[name] = render_stack("pod-security", config=config)
    result = _RENDERS[name]
    return [*result.kubernetes, *result.exported_objects]


def objects_of(source: str) -> list[dict[str, Any]]:
    return committed(source) if source in RENDERS else rendered(source)


SOURCES = [*RENDERS, *EXTRA_CONFIGS]


@pytest.mark.parametrize("source", SOURCES)
def test_every_pod_template_meets_pod_security_restricted(source: str) -> None:
    specs = list(pod_specs(objects_of(source)))
    assert specs, "no pod template found"
    problems = [
        f"{what}: {problem}"
        for what, spec, owned in specs
        for problem in restricted_violations(spec, owned)
    ]
    assert problems == []


@pytest.mark.parametrize("source", SOURCES)
def test_every_container_is_hardened_beyond_the_profile(source: str) -> None:
    problems = [
        f"{what}: {problem}"
        for what, spec, owned in pod_specs(objects_of(source))
        for problem in hardening_violations(spec, owned)
    ]
    assert problems == []


@pytest.mark.parametrize("source", SOURCES)
def test_only_containers_calling_the_kubernetes_api_get_a_token(source: str) -> None:
    for what, spec, owned in pod_specs(objects_of(source)):
        if not owned:
            continue
        kubectl = [c for c in all_containers(spec) if (c.get("command") or [""])[0] == "kubectl"]
        others = [c for c in all_containers(spec) if c not in kubectl]
        token_volumes = {
            v["name"]
            for v in spec.get("volumes") or []
            if any(
                "serviceAccountToken" in s for s in (v.get("projected") or {}).get("sources", [])
            )
        }
        if spec.get("automountServiceAccountToken") is not False:
            # Pod-level: every container gets the token; only when all of them need it.
            assert not others, f"{what}: a token for {[c['name'] for c in others]}"
            assert kubectl, f"{what}: a token and no container calling the API"
        for container in others:
            mounted = {m["name"] for m in container.get("volumeMounts") or []}
            assert not mounted & token_volumes, f"{what}: {container['name']} mounts the token"


@pytest.mark.parametrize("source", SOURCES)
def test_every_image_is_by_digest(source: str) -> None:
    images = [
        (what, container.get("name"), container["image"])
        for what, spec, _ in pod_specs(objects_of(source))
        for container in all_containers(spec)
    ]
    assert images
    assert [i for i in images if not BY_DIGEST.search(str(i[2]))] == []


def test_the_profile_check_catches_what_it_should() -> None:
    """The checker itself: a pod violating each rule is reported for each."""
    bad = {
        "hostNetwork": True,
        "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        "securityContext": {"seccompProfile": {"type": "Unconfined"}},
        "containers": [
            {
                "name": "c",
                "image": "x",
                "securityContext": {
                    "privileged": True,
                    "runAsUser": 0,
                    "capabilities": {"add": ["SYS_ADMIN"]},
                },
            }
        ],
    }
    text = "\n".join(restricted_violations(bad, True))
    for expected in (
        "hostNetwork",
        "volume host",
        "pod seccompProfile Unconfined",
        "c: privileged",
        "c: allowPrivilegeEscalation",
        "c: runAsNonRoot",
        "c: runAsUser 0",
        "c: capabilities.drop",
        "c: capabilities.add ['SYS_ADMIN']",
    ):
        assert expected in text
    # A container added to a pod it does not own cannot lean on pod-level settings.
    pod_level = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [
            {
                "name": "i",
                "image": "x",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    }
    assert restricted_violations(pod_level, True) == []
    assert len(restricted_violations(pod_level, False)) == 2


def _prod_published() -> list[dict[str, Any]]:
    """prod as rendered with the published receiver (its committed render runs the batching
    one, which has no init container)."""
    from tools.render import read_stack_config, render_stack

    config = {**read_stack_config("prod"), "acpw:receiver": {"module": "published"}}
    return render_stack("prod", config=config).kubernetes


def test_the_batching_receiver_needs_no_container_and_is_world_readable() -> None:
    for patch in [
        o for o in committed("prod") if o["kind"] == "Deployment" and "template" in o["spec"]
    ]:
        pod = patch["spec"]["template"]["spec"]
        assert pod.get("initContainers") in (None, [])
        module = next(v for v in pod["volumes"] if v["name"] == "acpw-receiver-wasm")
        # istio-proxy (UID 1337) reads it: mode 0444, nothing writable.
        assert module["configMap"]["defaultMode"] == 0o444


def test_the_receiver_init_container_runs_as_a_fixed_non_root_user() -> None:
    # The first pod patch: the strategy patch that guards it carries no template.
    [patch] = [
        o for o in _prod_published() if o["kind"] == "Deployment" and "template" in o["spec"]
    ][:1]
    [init] = patch["spec"]["template"]["spec"]["initContainers"]
    context = init["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] == 65532
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    # It writes only into the emptyDir (world-writable by default) and copies a world-readable
    # file (acpw/oci/formats.py checks the volume image's receiver.wasm is o+r).
    assert init["command"][0] == "cp"
    volumes = {v["name"]: v for v in patch["spec"]["template"]["spec"]["volumes"]}
    [mount] = init["volumeMounts"]
    assert volumes[mount["name"]] == {"name": mount["name"], "emptyDir": {}}

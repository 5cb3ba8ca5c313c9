"""Static consistency checks of everything under deploy/ (no Docker, no cluster needed).

The expectations below are the application's deployment contract: process commands,
ports, health endpoints and the documented environment variables. The deploy files
are parsed and checked against it and against each other (Compose, Kubernetes,
Dockerfile, .env.example, the PostgreSQL init script).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
INIT_SQL = DEPLOY / "postgres-init.sql"
README = DEPLOY / "README.md"

# ---------------------------------------------------------------------------
# The contract
# ---------------------------------------------------------------------------

COMPONENTS: dict[str, dict[str, Any]] = {
    "gateway": {"prefix": "GATEWAY", "port": 8000, "app": "gateway.main:create_app"},
    "registry": {"prefix": "REGISTRY", "port": 8001, "app": "services.registry.main:create_app"},
    "certification": {
        "prefix": "CERTIFICATION",
        "port": 8002,
        "app": "services.certification.main:create_app",
    },
    "housing": {"prefix": "HOUSING", "port": 8003, "app": "services.housing.main:create_app"},
}
SERVICES = ("registry", "certification", "housing")
LIVE, READY = "/health/live", "/health/ready"
JWKS_PATH = "/.well-known/jwks.json"
AUDIENCE = "urn:lmx:api"
MIGRATE_STEPS = ["lmx migrate", "lmx reference load", "lmx keys ensure"]

_COMMON = ("DATABASE_URL", "ENVIRONMENT", "LOG_LEVEL")
_SERVICE_COMMON = ("JWKS_URL", "TOKEN_ISSUER", "TOKEN_AUDIENCE", "CURSOR_KEY")
COMPONENT_VARS: dict[str, set[str]] = {
    "gateway": {
        f"GATEWAY_{n}"
        for n in (
            *_COMMON,
            "ISSUER",
            "REGISTRY_URL",
            "CERTIFICATION_URL",
            "HOUSING_URL",
            "REDIS_URL",
            "RATE_LIMIT",
            "MAX_BODY_BYTES",
            "CONNECT_TIMEOUT",
            "READ_TIMEOUT",
            "KEY_PASSPHRASE",
            "TRUSTED_PROXIES",
        )
    },
    "registry": {
        f"REGISTRY_{n}" for n in (*_COMMON, *_SERVICE_COMMON, "PSEUDONYM_KEY", "ENCRYPTION_KEY", "AUDIT_SIGNING_KEY")
    },
    "certification": {f"CERTIFICATION_{n}" for n in (*_COMMON, *_SERVICE_COMMON)},
    "housing": {f"HOUSING_{n}" for n in (*_COMMON, *_SERVICE_COMMON, "GATEWAY_URL", "CLIENT_ID", "CLIENT_SECRET")},
}
DOCUMENTED: set[str] = set().union(*COMPONENT_VARS.values())
SECRET_VARS = {
    *(f"{c['prefix']}_DATABASE_URL" for c in COMPONENTS.values()),
    "GATEWAY_REDIS_URL",
    "GATEWAY_KEY_PASSPHRASE",
    "REGISTRY_PSEUDONYM_KEY",
    "REGISTRY_ENCRYPTION_KEY",
    "REGISTRY_AUDIT_SIGNING_KEY",
    "HOUSING_CLIENT_SECRET",
    "REGISTRY_CURSOR_KEY",
    "CERTIFICATION_CURSOR_KEY",
    "HOUSING_CURSOR_KEY",
}
# The database roles' passwords (deploy/postgres-init.sql): the migrations' owner and one role per component.
DB_ROLE_PASSWORDS = {"LMX_DB_OWNER_PASSWORD", *(f"LMX_DB_{c['prefix']}_PASSWORD" for c in COMPONENTS.values())}
# Compose-level interpolation variables that are not application settings.
COMPOSE_ONLY_VARS = {"POSTGRES_PASSWORD", *DB_ROLE_PASSWORDS}
# What the postgres container gets: the image's own variables and the passwords its init script sets.
POSTGRES_IMAGE_VARS = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PGDATA", *DB_ROLE_PASSWORDS}
UPSTREAM_VARS = {
    "GATEWAY_REGISTRY_URL": "registry",
    "GATEWAY_CERTIFICATION_URL": "certification",
    "GATEWAY_HOUSING_URL": "housing",
}


def development_marker() -> str:
    """The substring that makes production refuse a setting (lmx_common.settings)."""
    source = (ROOT / "lmx_common" / "settings.py").read_text(encoding="utf-8")
    match = re.search(r'^DEVELOPMENT_MARKER\s*=\s*"([^"]+)"', source, flags=re.MULTILINE)
    assert match, "DEVELOPMENT_MARKER not found in lmx_common/settings.py"
    return match[1]


def uvicorn_command(component: str) -> list[str]:
    c = COMPONENTS[component]
    # Inside a container the process must listen on every interface.
    all_interfaces = "0.0.0.0"  # noqa: S104
    # httptools answering an unparsable request with problem+json (lmx_common/http_protocol.py), as `lmx up`.
    protocol = "lmx_common.http_protocol:ProblemHttpToolsProtocol"
    # uvicorn's own X-Forwarded-* handling off (it trusts 127.0.0.1, e.g. a mesh sidecar, by default), as in
    # `lmx up`: the gateway decides whom to believe (GATEWAY_TRUSTED_PROXIES, deploy/README.md).
    return [
        "uvicorn",
        c["app"],
        "--factory",
        "--host",
        all_interfaces,
        "--port",
        str(c["port"]),
        "--http",
        protocol,
        "--no-proxy-headers",
    ]


# ---------------------------------------------------------------------------
# Loading helpers
# ---------------------------------------------------------------------------


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml"} and p.is_file())


@functools.cache
def load_docs(path: Path) -> list[Any]:
    # Cached: callers must not mutate the result.
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def strings_in(node: Any) -> list[str]:
    """Every string value in a parsed YAML tree (what Compose interpolates; not comments)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in strings_in(k) + strings_in(v)]
    if isinstance(node, list):
        return [s for item in node for s in strings_in(item)]
    return []


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_docs() -> list[dict[str, Any]]:
    return [d for p in k8s_files() for d in load_docs(p)]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in k8s_docs() if d["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} named {name!r}, found {len(found)}"
    return found[0]


def only_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, workload["metadata"]["name"]
    return dict(containers[0])


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (matchLabels + matchExpressions)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in {"In", "NotIn", "Exists", "DoesNotExist"}:
            raise AssertionError(f"unknown selector operator {op!r}")
    return True


def deployments_selected_by(selector: dict[str, Any]) -> set[str]:
    return {d["metadata"]["name"] for d in of_kind("Deployment") if selector_matches(selector, pod_labels(d))}


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    matches = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert len(matches) == 1, f"named port {port!r} not declared exactly once"
    return int(matches[0])


def env_names(container: dict[str, Any]) -> list[str]:
    return [e["name"] for e in container.get("env", [])]


def configmap_data() -> dict[str, str]:
    return dict(named("ConfigMap", "lmx-config")["data"])


def secret_data(name: str = "lmx-secrets") -> dict[str, str]:
    return dict(named("Secret", name)["stringData"])


def k8s_env_value(name_value: dict[str, Any]) -> str:
    """The value a container sees for one `env` entry (ConfigMap / Secret resolved)."""
    if "value" in name_value:
        return str(name_value["value"])
    ref = name_value["valueFrom"]
    if "configMapKeyRef" in ref:
        return configmap_data()[ref["configMapKeyRef"]["key"]]
    return secret_data()[ref["secretKeyRef"]["key"]]


def k8s_env(workload: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: k8s_env_value(e) for e in only_container(workload).get("env", [])}


def compose() -> dict[str, Any]:
    docs = load_docs(COMPOSE_FILE)
    assert len(docs) == 1
    return dict(docs[0])


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a KEY=value line in .env.example: {raw!r}"
        assert key not in values, f"{key} defined twice in .env.example"
        values[key.strip()] = value.strip()
    return values


_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


def interpolated_names(text: str) -> set[str]:
    return {m["name"] for m in _INTERPOLATION.finditer(text)}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose-style interpolation of ${VAR}, ${VAR:-default}, ${VAR:?error}."""

    def repl(m: re.Match[str]) -> str:
        name, op, arg = m["name"], m["op"], m["arg"]
        if op == ":-":
            return env.get(name) or arg
        if op == "-":
            return env.get(name, arg)
        assert name in env, f"${{{name}}} is required but not set"
        return env[name]

    return _INTERPOLATION.sub(repl, value)


def compose_env(service: str, resolve: bool = True) -> dict[str, str]:
    env = compose()["services"][service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: use the mapping form for `environment`"
    env = {k: str(v) for k, v in env.items()}
    if resolve:
        example = env_example()
        env = {k: interpolate(v, example) for k, v in env.items()}
    return env


def compose_command(service: str) -> list[str]:
    cmd = compose()["services"][service]["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def port_of_command(command: list[str]) -> int:
    return int(command[command.index("--port") + 1])


# ---------------------------------------------------------------------------
# Every YAML file
# ---------------------------------------------------------------------------


def test_yaml_files_exist() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in yaml_files()}
    assert "docker-compose.yml" in names
    assert {"k8s/kustomization.yaml", "k8s/configmap.yaml", "k8s/networkpolicy.yaml"} <= names


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_parses_into_mappings(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{path} holds no YAML document"
    for doc in docs:
        assert isinstance(doc, dict), f"{path}: every document must be a mapping"


def test_k8s_documents_are_well_formed_and_namespaced() -> None:
    docs = k8s_docs()
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == ["lmx"]
    seen: set[tuple[str, str]] = set()
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), doc
        ident = (doc["kind"], doc["metadata"]["name"])
        assert ident not in seen, f"duplicate {ident}"
        seen.add(ident)
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "lmx", ident


def test_kustomization_lists_every_manifest_except_the_secret_template() -> None:
    (kust,) = load_docs(K8S / "kustomization.yaml")
    assert kust["kind"] == "Kustomization"
    resources = kust["resources"]
    assert len(resources) == len(set(resources))
    expected = {p.name for p in k8s_files()} - {"secret.template.yaml"}
    assert set(resources) == expected
    for resource in resources:
        assert all(d["kind"] != "Secret" for d in load_docs(K8S / resource)), resource
    images = {i["name"] for i in kust.get("images", [])}
    used = {only_container(w)["image"].rsplit(":", 1)[0] for w in of_kind("Deployment") + of_kind("Job")}
    assert used <= images, "kustomization `images` must cover the image the workloads use"


# ---------------------------------------------------------------------------
# Kubernetes workloads
# ---------------------------------------------------------------------------


def test_k8s_has_a_deployment_and_service_per_component() -> None:
    assert {d["metadata"]["name"] for d in of_kind("Deployment")} == set(COMPONENTS)
    assert {s["metadata"]["name"] for s in of_kind("Service")} == set(COMPONENTS)
    # The replica counts are the autoscalers' (tests/unit/test_deploy_production.py).
    for name in COMPONENTS:
        assert "replicas" not in named("Deployment", name)["spec"], name


@pytest.mark.parametrize("component", list(COMPONENTS))
def test_k8s_deployment_command_port_and_probes(component: str) -> None:
    deployment = named("Deployment", component)
    spec = deployment["spec"]
    assert selector_matches(spec["selector"], pod_labels(deployment))
    container = only_container(deployment)
    port = COMPONENTS[component]["port"]

    assert container["command"] == uvicorn_command(component)
    assert [p["containerPort"] for p in container["ports"]] == [port]

    live = container["livenessProbe"]["httpGet"]
    ready = container["readinessProbe"]["httpGet"]
    assert live["path"] == LIVE
    assert ready["path"] == READY
    assert resolve_port(container, live["port"]) == port
    assert resolve_port(container, ready["port"]) == port
    if "startupProbe" in container:
        startup = container["startupProbe"]["httpGet"]
        assert startup["path"] == LIVE and resolve_port(container, startup["port"]) == port


@pytest.mark.parametrize("component", [*COMPONENTS, "lmx-migrate"])
def test_k8s_resources_and_security_context(component: str) -> None:
    workload = named("Job" if component == "lmx-migrate" else "Deployment", component)
    pod = workload["spec"]["template"]["spec"]
    container = only_container(workload)
    pod_sc, sc = pod.get("securityContext", {}), container["securityContext"]

    resources = container["resources"]
    assert resources["limits"]["memory"] == "256Mi"
    assert {"cpu", "memory"} <= resources["requests"].keys()

    assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True
    run_as = sc.get("runAsUser", pod_sc.get("runAsUser"))
    assert run_as is not None and run_as != 0
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in sc["capabilities"]
    assert pod.get("automountServiceAccountToken") is False
    # The service-link variables (GATEWAY_PORT=tcp://..., ...) would collide with
    # the components' own environment prefixes.
    assert pod.get("enableServiceLinks") is False

    # A read-only root needs a writable /tmp, backed by an emptyDir.
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    tmp = "/tmp"  # noqa: S108
    assert tmp in mounts and "emptyDir" in volumes[mounts[tmp]]


@pytest.mark.parametrize("component", list(COMPONENTS))
def test_k8s_service_targets_the_deployment_port(component: str) -> None:
    service = named("Service", component)
    deployment = named("Deployment", component)
    selected = {
        d["metadata"]["name"]
        for d in of_kind("Deployment")
        if selector_matches({"matchLabels": service["spec"]["selector"]}, pod_labels(d))
    }
    assert selected == {component}
    (port,) = service["spec"]["ports"]
    assert port["port"] == COMPONENTS[component]["port"]
    assert resolve_port(only_container(deployment), port.get("targetPort", port["port"])) == port["port"]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"


@pytest.mark.parametrize("component", list(COMPONENTS))
def test_k8s_environment_is_exactly_the_documented_set(component: str) -> None:
    names = env_names(only_container(named("Deployment", component)))
    assert len(names) == len(set(names)), f"duplicate env entries in {component}"
    assert set(names) <= DOCUMENTED
    assert set(names) == COMPONENT_VARS[component]
    assert "envFrom" not in only_container(named("Deployment", component))


def test_k8s_env_references_resolve_and_secrets_come_from_the_secret() -> None:
    cm, secret = configmap_data(), secret_data()
    used_cm: set[str] = set()
    used_secret: set[str] = set()
    workloads = of_kind("Deployment") + of_kind("Job")
    assert len(workloads) == 5
    for workload in workloads:
        for entry in only_container(workload).get("env", []):
            name = entry["name"]
            assert name in DOCUMENTED, f"{workload['metadata']['name']}: undocumented {name}"
            assert "value" not in entry, f"{name}: take values from the ConfigMap or Secret"
            ref = entry["valueFrom"]
            if name in SECRET_VARS:
                assert "secretKeyRef" in ref, f"{name} is a secret"
            if "secretKeyRef" in ref and ref["secretKeyRef"]["name"] == "lmx-migrate-secrets":
                # The owner role's database URLs: the migration Job's alone.
                assert workload["kind"] == "Job" and name.endswith("_DATABASE_URL"), name
                assert ref["secretKeyRef"]["key"] == name and name in secret_data("lmx-migrate-secrets")
            elif "secretKeyRef" in ref:
                assert ref["secretKeyRef"]["name"] == "lmx-secrets"
                assert ref["secretKeyRef"]["key"] == name and name in secret
                used_secret.add(name)
            else:
                assert ref["configMapKeyRef"]["name"] == "lmx-config"
                assert ref["configMapKeyRef"]["key"] == name and name in cm
                used_cm.add(name)
    assert set(cm) == used_cm, f"unused ConfigMap keys: {set(cm) - used_cm}"
    assert set(secret) == used_secret, f"unused Secret keys: {set(secret) - used_secret}"
    assert set(secret) >= SECRET_VARS
    assert not SECRET_VARS & set(cm)


def test_k8s_secret_is_a_clearly_marked_template() -> None:
    path = K8S / "secret.template.yaml"
    assert "TEMPLATE" in path.read_text(encoding="utf-8")
    marker = development_marker()
    for name in ("lmx-secrets", "lmx-migrate-secrets"):
        secret = named("Secret", name)
        assert "data" not in secret, "use stringData placeholders, not encoded values"
        for key, value in secret["stringData"].items():
            assert "REPLACE_ME" in value, f"{key} must be a placeholder"
            assert marker in value, f"{key}: production must refuse the placeholder"
        for component, c in COMPONENTS.items():
            url = urlsplit(secret["stringData"][f"{c['prefix']}_DATABASE_URL"])
            assert url.scheme == "postgresql+asyncpg"
            assert url.path == f"/{component}"
            # The components as their own roles, the migrations as the owner (deploy/postgres-init.sql).
            assert url.username == ("lmx_owner" if name == "lmx-migrate-secrets" else f"lmx_{component}")
    secret = named("Secret", "lmx-secrets")
    assert urlsplit(secret["stringData"]["GATEWAY_REDIS_URL"]).scheme in {"redis", "rediss"}


def assert_k8s_url_targets(url: str, component: str, path: str = "") -> None:
    parts = urlsplit(url)
    assert parts.scheme == "http"
    host = parts.hostname or ""
    service_name = host.split(".")[0]
    assert host in {service_name, f"{service_name}.lmx", f"{service_name}.lmx.svc"} or host.endswith(
        ".lmx.svc.cluster.local"
    )
    service = named("Service", service_name)
    assert parts.port in {p["port"] for p in service["spec"]["ports"]}, url
    selected = {
        d["metadata"]["name"]
        for d in of_kind("Deployment")
        if selector_matches({"matchLabels": service["spec"]["selector"]}, pod_labels(d))
    }
    assert selected == {component}, url
    assert parts.path.rstrip("/") == path


def test_k8s_urls_point_at_existing_services() -> None:
    gateway_env = k8s_env(named("Deployment", "gateway"))
    for var, target in UPSTREAM_VARS.items():
        assert_k8s_url_targets(gateway_env[var], target)
    for name in SERVICES:
        prefix = COMPONENTS[name]["prefix"]
        env = k8s_env(named("Deployment", name))
        assert_k8s_url_targets(env[f"{prefix}_JWKS_URL"], "gateway", JWKS_PATH)
        assert env[f"{prefix}_TOKEN_ISSUER"] == gateway_env["GATEWAY_ISSUER"]
        assert env[f"{prefix}_TOKEN_AUDIENCE"] == AUDIENCE
    assert_k8s_url_targets(k8s_env(named("Deployment", "housing"))["HOUSING_GATEWAY_URL"], "gateway")
    assert urlsplit(gateway_env["GATEWAY_ISSUER"]).scheme == "https"


def test_k8s_migration_job() -> None:
    job = named("Job", "lmx-migrate")
    container = only_container(job)
    assert job["spec"]["template"]["spec"]["restartPolicy"] in {"Never", "OnFailure"}
    assert container["command"][:2] == ["sh", "-c"]
    assert container["command"][2].split(" && ") == MIGRATE_STEPS
    assert container["image"] == only_container(named("Deployment", "gateway"))["image"]
    names = set(env_names(container))
    assert {f"{c['prefix']}_DATABASE_URL" for c in COMPONENTS.values()} <= names
    assert "GATEWAY_KEY_PASSPHRASE" in names
    assert "ports" not in container and "livenessProbe" not in container


def test_k8s_same_image_everywhere_and_uid_matches_dockerfile() -> None:
    workloads = of_kind("Deployment") + of_kind("Job")
    assert len({only_container(w)["image"] for w in workloads}) == 1
    uid = dockerfile_final_user().split(":")[0]
    for w in workloads:
        assert str(w["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == uid


def test_k8s_networkpolicy_only_gateway_reaches_the_services() -> None:
    for name in SERVICES:
        policies = [p for p in of_kind("NetworkPolicy") if name in deployments_selected_by(p["spec"]["podSelector"])]
        ingress = [rule for p in policies for rule in p["spec"].get("ingress", [])]
        assert ingress, f"{name}: an empty ingress list would deny the gateway too"
        allowed_ports: set[int] = set()
        for rule in ingress:
            assert rule.get("from"), "a rule without `from` admits every source"
            for peer in rule["from"]:
                assert set(peer) == {"podSelector"}, "no namespaceSelector / ipBlock peers"
                assert deployments_selected_by(peer["podSelector"]) == {"gateway"}
            allowed_ports |= {p["port"] for p in rule["ports"]}
        assert allowed_ports == {COMPONENTS[name]["port"]}


# ---------------------------------------------------------------------------
# Docker Compose
# ---------------------------------------------------------------------------


def test_compose_services() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", *COMPONENTS}


@pytest.mark.parametrize("component", list(COMPONENTS))
def test_compose_component(component: str) -> None:
    svc = compose()["services"][component]
    port = COMPONENTS[component]["port"]
    assert compose_command(component) == uvicorn_command(component)
    if component == "gateway":
        assert svc["ports"] == ["8000:8000"]
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
    else:
        assert "ports" not in svc, f"{component} must not be published"
    assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    probe = " ".join(svc["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}{READY}" in probe or f"http://127.0.0.1:{port}{LIVE}" in probe
    assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"]
    assert svc["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (COMPOSE_FILE.parent / svc["build"]["context"]).resolve() == ROOT
    assert (ROOT / svc["build"]["dockerfile"]) == DOCKERFILE


@pytest.mark.parametrize("component", list(COMPONENTS))
def test_compose_environment_is_exactly_the_documented_set(component: str) -> None:
    assert set(compose_env(component, resolve=False)) == COMPONENT_VARS[component]
    assert "env_file" not in compose()["services"][component]


def test_compose_migrate_and_infrastructure() -> None:
    services = compose()["services"]
    migrate = services["migrate"]
    command = compose_command("migrate")
    assert command[:2] == ["sh", "-c"] and command[2].split(" && ") == MIGRATE_STEPS
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    assert migrate["image"] == services["gateway"]["image"]
    names = set(compose_env("migrate", resolve=False))
    assert names <= DOCUMENTED
    assert {f"{c['prefix']}_DATABASE_URL" for c in COMPONENTS.values()} | {"GATEWAY_KEY_PASSPHRASE"} <= names

    assert set(compose_env("postgres", resolve=False)) <= POSTGRES_IMAGE_VARS
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    assert "ports" not in services["postgres"] and "ports" not in services["redis"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in services["postgres"]["volumes"] if isinstance(m, str)}
    # The shell script (in the image's init directory) runs the SQL (outside it) with the roles' passwords.
    assert mounts["./postgres-init.sh"].startswith("/docker-entrypoint-initdb.d/")
    assert mounts["./postgres-init.sh"].endswith(".sh")
    assert not mounts["./postgres-init.sql"].startswith("/docker-entrypoint-initdb.d/")
    script = (DEPLOY / "postgres-init.sh").read_text(encoding="utf-8")
    assert f"-f {mounts['./postgres-init.sql']}" in script
    for variable in DB_ROLE_PASSWORDS:
        assert f'"${variable}"' in script, variable


def test_postgres_init_creates_the_four_databases_that_compose_uses() -> None:
    sql = INIT_SQL.read_text(encoding="utf-8")
    created = re.findall(r"^\s*CREATE\s+DATABASE\s+(\w+)", sql, flags=re.IGNORECASE | re.MULTILINE)
    assert sorted(created) == sorted(COMPONENTS)
    pg_env = compose_env("postgres")
    for service in ("migrate", *COMPONENTS):
        for name, value in compose_env(service).items():
            if not name.endswith("_DATABASE_URL"):
                continue
            url = urlsplit(value)
            component = next(k for k, c in COMPONENTS.items() if name == f"{c['prefix']}_DATABASE_URL")
            assert url.scheme == "postgresql+asyncpg"
            assert (url.hostname, url.port) == ("postgres", 5432)
            assert url.path == f"/{component}"
            # Migrations as the owner role, each component as its own (never the superuser).
            role = "OWNER" if service == "migrate" else COMPONENTS[component]["prefix"]
            assert (url.username, url.password) == (f"lmx_{role.lower()}", pg_env[f"LMX_DB_{role}_PASSWORD"])
            assert url.username != pg_env["POSTGRES_USER"]


def test_compose_env_example_and_interpolation_agree() -> None:
    values = strings_in(compose())
    referenced = set().union(*(interpolated_names(v) for v in values))
    example = env_example()
    assert set(example) <= DOCUMENTED | COMPOSE_ONLY_VARS, set(example) - DOCUMENTED - COMPOSE_ONLY_VARS
    assert referenced == set(example), {
        "referenced but not in .env.example": referenced - set(example),
        "in .env.example but unused": set(example) - referenced,
    }
    # Only the ${...} form (no bare $VAR, which is easy to get wrong).
    for value in values:
        assert not re.search(r"\$(?![{$])", value.replace("$$", "")), value
    # Secrets never appear literally in the Compose file.
    for service in compose()["services"]:
        raw = compose_env(service, resolve=False)
        for name, value in raw.items():
            if name in SECRET_VARS - {"GATEWAY_REDIS_URL"} or name in {"POSTGRES_PASSWORD", *DB_ROLE_PASSWORDS}:
                assert "${" in value, f"{service}: {name} must come from .env"
    marker = development_marker()
    for name in SECRET_VARS | COMPOSE_ONLY_VARS:
        if name in example:
            assert "CHANGE_ME" in example[name], f".env.example must not hold a real {name}"
            # ... and production refuses to start with the placeholder left in.
            assert marker in example[name], name
    for url in compose_env("gateway").values():
        if url.startswith("postgresql"):
            assert marker in url


def test_compose_urls_point_at_existing_services() -> None:
    services = compose()["services"]

    def assert_targets(url: str, component: str, path: str = "") -> None:
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.hostname == component, url
        assert component in services
        assert parts.port == port_of_command(compose_command(component)), url
        assert parts.path.rstrip("/") == path

    gateway_env = compose_env("gateway")
    for var, target in UPSTREAM_VARS.items():
        assert_targets(gateway_env[var], target)
    redis = urlsplit(gateway_env["GATEWAY_REDIS_URL"])
    assert (redis.scheme, redis.hostname) == ("redis", "redis")
    for name in SERVICES:
        prefix = COMPONENTS[name]["prefix"]
        env = compose_env(name)
        assert_targets(env[f"{prefix}_JWKS_URL"], "gateway", JWKS_PATH)
        assert env[f"{prefix}_TOKEN_ISSUER"] == gateway_env["GATEWAY_ISSUER"]
        assert env[f"{prefix}_TOKEN_AUDIENCE"] == AUDIENCE
    assert_targets(compose_env("housing")["HOUSING_GATEWAY_URL"], "gateway")
    # The issuer is the published address of the gateway.
    published = int(services["gateway"]["ports"][0].split(":")[0])
    assert urlsplit(gateway_env["GATEWAY_ISSUER"]).port == published


# ---------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    logical: list[str] = []
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "dangling line continuation"
    result = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        result.append((instruction.upper(), args.strip()))
    return result


def dockerfile_stages() -> list[dict[str, Any]]:
    args: dict[str, str] = {}
    stages: list[dict[str, Any]] = []
    for instruction, rest in dockerfile_instructions():
        if instruction == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key] = default
        elif instruction == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m[1]], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append({"image": image, "name": name, "body": []})
        else:
            assert stages, f"{instruction} before FROM"
            stages[-1]["body"].append((instruction, rest))
    return stages


def dockerfile_final_user() -> str:
    users = [rest for ins, rest in dockerfile_stages()[-1]["body"] if ins == "USER"]
    assert users, "final stage has no USER"
    return str(users[-1])


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    assert all(s["image"] == "python:3.11-slim" for s in stages)
    earlier = {s["name"] for s in stages[:-1]}
    copies_from = [
        re.search(r"--from=(\S+)", rest)[1]  # type: ignore[index]
        for ins, rest in stages[-1]["body"]
        if ins == "COPY" and "--from=" in rest
    ]
    assert copies_from and set(copies_from) <= earlier


def test_dockerfile_final_stage_runs_as_non_root() -> None:
    user = dockerfile_final_user()
    name = user.split(":")[0]
    assert name not in {"root", "0", ""}
    assert name.isdigit(), "numeric uid, so that Kubernetes can verify runAsNonRoot"
    final = dockerfile_stages()[-1]["body"]
    # Nothing after USER switches back to root.
    last_user = max(i for i, (ins, _) in enumerate(final) if ins == "USER")
    assert all(ins != "RUN" for ins, _ in final[last_user + 1 :])


def test_dockerfile_cmd_runs_the_gateway_and_has_no_healthcheck() -> None:
    instructions = dockerfile_instructions()
    assert all(ins != "HEALTHCHECK" for ins, _ in instructions)
    assert all(ins != "ENTRYPOINT" for ins, _ in instructions), "commands are overridden whole"
    cmds = [rest for ins, rest in dockerfile_stages()[-1]["body"] if ins == "CMD"]
    assert cmds and json.loads(cmds[-1]) == uvicorn_command("gateway")


def test_dockerfile_installs_the_project_without_dev_dependencies() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runs = " ".join(rest for ins, rest in dockerfile_instructions() if ins == "RUN")
    assert re.search(r"pip install (--\S+ )*\.(\s|$)", runs), "installs the project from the context"
    assert "[dev]" not in runs and "-e " not in runs
    copied = {
        src.rstrip("/")
        for stage in dockerfile_stages()
        for ins, rest in stage["body"]
        if ins == "COPY" and "--from=" not in rest
        for src in rest.split()[:-1]
    }
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"packages not copied into the build: {packages - copied}"
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    # ... and the build-context ignore file does not hide any of them.
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    ]
    for src in copied:
        for pattern in patterns:
            bare = pattern.removeprefix("**/")
            assert not fnmatch.fnmatch(src, pattern) and not fnmatch.fnmatch(src, bare), (src, pattern)


def test_dockerfile_ships_the_migration_chains_where_the_cli_looks() -> None:
    final = dockerfile_stages()[-1]["body"]
    env = {}
    for ins, rest in final:
        if ins == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    assert "LMX_MIGRATIONS_DIR" in env
    copies = [rest.split() for ins, rest in final if ins == "COPY" and "--from=" not in rest]
    assert ["migrations", env["LMX_MIGRATIONS_DIR"]] in copies
    # The CLI creates ./var (relative to the working directory) before migrating; it
    # must already exist in the image, or mkdir fails on the read-only root.
    cli = (ROOT / "lmx_cli" / "main.py").read_text(encoding="utf-8")
    if 'Path("var")' in cli:
        workdir = [rest for ins, rest in final if ins == "WORKDIR"][-1]
        runs = " ".join(rest for ins, rest in final if ins == "RUN")
        assert f"mkdir -p {workdir.rstrip('/')}/var" in runs
    # The variable is the one lmx_common.migrations reads.
    source = (ROOT / "lmx_common" / "migrations.py").read_text(encoding="utf-8")
    assert '"LMX_MIGRATIONS_DIR"' in source
    if (ROOT / "migrations").is_dir():
        chains = {p.name for p in (ROOT / "migrations").iterdir() if (p / "env.py").is_file()}
        assert chains == set(COMPONENTS)


# ---------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------


def test_readme_documents_the_production_variables() -> None:
    text = README.read_text(encoding="utf-8")
    for name in sorted(SECRET_VARS | {"GATEWAY_ISSUER"} | {f"{c['prefix']}_ENVIRONMENT" for c in COMPONENTS.values()}):
        assert name in text, f"README does not mention {name}"
    assert "docker build -f deploy/Dockerfile" in text
    assert "kubectl apply -k deploy/k8s" in text

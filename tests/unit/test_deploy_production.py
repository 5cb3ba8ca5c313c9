"""Static checks of the production hardening in deploy/ (ADR 0032): autoscaling and disruption budgets,
default-deny network policies, database roles, the hashed lock file and the build context.

No Docker and no cluster: every manifest is parsed with PyYAML and checked against what each component
needs. tests/unit/test_deploy_static.py holds the deployment contract (commands, ports, variables).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
LOCK = ROOT / "requirements.lock"
COMPONENTS = {"gateway": 8000, "registry": 8001, "certification": 8002, "housing": 8003}
SERVICES = ("registry", "certification", "housing")
POSTGRES_PORT, REDIS_PORT, DNS_PORT, HTTPS_PORT = 5432, 6379, 53, 443
WEBHOOK_SENDERS = {"registry", "certification"}  # the services with webhook subscriptions


def manifests() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"})


@functools.cache
def k8s_docs() -> list[dict[str, Any]]:
    # Cached: callers must not mutate the result.
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    return docs


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in k8s_docs() if d.get("kind") == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return doc


@functools.cache
def workload_labels() -> dict[str, dict[str, str]]:
    """Pod labels of every workload (Deployments and the migration Job), by workload name."""
    return {
        w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"]
        for w in of_kind("Deployment") + of_kind("Job")
    }


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if set(selector) - {"matchLabels", "matchExpressions"}:
        raise AssertionError(f"unknown selector keys {selector}")
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value, values = labels.get(expression["key"]), expression.get("values", [])
        operator = expression["operator"]
        if (operator == "In" and value not in values) or (operator == "NotIn" and value in values):
            return False
        if (operator == "Exists" and value is None) or (operator == "DoesNotExist" and value is not None):
            return False
    return True


def selected(selector: dict[str, Any]) -> set[str]:
    return {name for name, labels in workload_labels().items() if selects(selector, labels)}


def policies_for(workload: str) -> list[dict[str, Any]]:
    return [p for p in of_kind("NetworkPolicy") if workload in selected(p["spec"]["podSelector"])]


def own_policies(workload: str) -> list[dict[str, Any]]:
    """The policies written for this workload (not the namespace-wide ones with an empty selector)."""
    return [p for p in policies_for(workload) if p["spec"]["podSelector"]]


def egress_ports_to(workload: str, target: str) -> set[int]:
    """Ports the workload's policies let it open to the pods of another workload."""
    ports: set[int] = set()
    for policy in policies_for(workload):
        for rule in policy["spec"].get("egress", []):
            for peer in rule["to"]:
                if (
                    "podSelector" in peer
                    and "namespaceSelector" not in peer
                    and target in selected(peer["podSelector"])
                ):
                    ports |= {p["port"] for p in rule["ports"]}
    return ports


def egress_ports_to_addresses(workload: str) -> set[int]:
    ports: set[int] = set()
    for policy in policies_for(workload):
        for rule in policy["spec"].get("egress", []):
            if any("ipBlock" in peer for peer in rule["to"]):
                ports |= {p["port"] for p in rule["ports"]}
    return ports


# ---------------------------------------------------------------------------
# Every manifest
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", manifests(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert docs and all(isinstance(d, dict) for d in docs)
    if path.parent == K8S:
        for doc in docs:
            assert doc.get("apiVersion") and doc.get("kind"), path


@pytest.mark.parametrize("component", list(COMPONENTS))
def test_each_component_has_deployment_autoscaler_budget_and_network_policy(component: str) -> None:
    deployment = named("Deployment", component)
    labels = deployment["spec"]["template"]["metadata"]["labels"]

    hpa = named("HorizontalPodAutoscaler", component)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": component}
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert 2 <= low < high, "at least two replicas, so one can be drained"
    assert hpa["spec"]["metrics"], "an autoscaler needs a metric"
    # The autoscaler owns the count: a `replicas` in the Deployment would be reset on every apply.
    assert "replicas" not in deployment["spec"]

    pdb = named("PodDisruptionBudget", component)
    assert pdb["apiVersion"] == "policy/v1"
    assert selects(pdb["spec"]["selector"], labels) and selected(pdb["spec"]["selector"]) == {component}
    if "minAvailable" in pdb["spec"]:
        assert 1 <= pdb["spec"]["minAvailable"] < low, "a budget that never allows an eviction blocks drains"
    else:
        assert pdb["spec"]["maxUnavailable"] >= 1

    assert own_policies(component), f"{component} has no NetworkPolicy of its own"


@pytest.mark.parametrize("component", list(COMPONENTS))
def test_probes_point_at_live_and_ready(component: str) -> None:
    (container,) = named("Deployment", component)["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    if "startupProbe" in container:
        assert container["startupProbe"]["httpGet"]["path"] in {"/health/live", "/health/ready"}


# ---------------------------------------------------------------------------
# Network policies
# ---------------------------------------------------------------------------


def test_default_deny_in_both_directions_for_every_pod() -> None:
    deny = [
        p
        for p in of_kind("NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1
    for policy in of_kind("NetworkPolicy"):
        assert policy["metadata"]["namespace"] == "lmx"
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from") and rule.get("ports"), f"{policy['metadata']['name']}: a rule open to all"
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to") and rule.get("ports"), f"{policy['metadata']['name']}: a rule open to all"


@pytest.mark.parametrize("workload", [*COMPONENTS, "lmx-migrate"])
def test_every_pod_may_look_up_names_and_nothing_else_namespace_wide(workload: str) -> None:
    dns = [
        rule
        for p in policies_for(workload)
        for rule in p["spec"].get("egress", [])
        if {port["port"] for port in rule["ports"]} == {DNS_PORT}
    ]
    assert dns, f"{workload} cannot resolve names"
    assert {port["protocol"] for rule in dns for port in rule["ports"]} == {"UDP", "TCP"}
    for rule in dns:
        for peer in rule["to"]:
            assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
            assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    # Policies selecting every pod allow DNS only.
    for policy in of_kind("NetworkPolicy"):
        if policy["spec"]["podSelector"] == {}:
            assert not policy["spec"].get("ingress")
            for rule in policy["spec"].get("egress", []):
                assert {port["port"] for port in rule["ports"]} == {DNS_PORT}


def test_gateway_reaches_exactly_the_services_its_database_and_redis() -> None:
    for service in SERVICES:
        assert egress_ports_to("gateway", service) == {COMPONENTS[service]}
    assert egress_ports_to_addresses("gateway") == {POSTGRES_PORT, REDIS_PORT}
    assert egress_ports_to("gateway", "gateway") == set()


@pytest.mark.parametrize("service", SERVICES)
def test_services_reach_the_gateway_their_database_and_webhook_subscribers_only(service: str) -> None:
    # The gateway: the token keys (JWKS) for every service; the housing service's own calls.
    assert egress_ports_to(service, "gateway") == {COMPONENTS["gateway"]}
    for other in SERVICES:
        assert egress_ports_to(service, other) == set(), f"{service} → {other}"
    expected = {POSTGRES_PORT} | ({HTTPS_PORT} if service in WEBHOOK_SENDERS else set())
    assert egress_ports_to_addresses(service) == expected
    for policy in own_policies(service):
        for rule in policy["spec"].get("egress", []):
            for peer in rule["to"]:
                block = peer.get("ipBlock")
                if block and block["cidr"] in {"0.0.0.0/0", "::/0"}:
                    # Subscribers on public addresses only: never the cluster's or the cloud's own networks.
                    assert {p["port"] for p in rule["ports"]} == {HTTPS_PORT}
                    if block["cidr"] == "0.0.0.0/0":
                        assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(
                            block["except"]
                        )


def test_only_the_ingress_controller_and_the_services_reach_the_gateway() -> None:
    sources: set[str] = set()
    namespaces = []
    for policy in own_policies("gateway"):
        for rule in policy["spec"].get("ingress", []):
            assert {p["port"] for p in rule["ports"]} == {COMPONENTS["gateway"]}
            for peer in rule["from"]:
                if "namespaceSelector" in peer:
                    assert "podSelector" not in peer or peer["podSelector"]
                    namespaces.append(peer["namespaceSelector"])
                else:
                    assert set(peer) == {"podSelector"}
                    sources |= selected(peer["podSelector"])
    assert sources == set(SERVICES)
    assert len(namespaces) == 1 and namespaces[0]["matchLabels"] != {}, "one ingress controller namespace"


def test_migration_job_reaches_its_databases_only() -> None:
    assert egress_ports_to_addresses("lmx-migrate") == {POSTGRES_PORT}
    assert all(not p["spec"].get("ingress") for p in own_policies("lmx-migrate"))
    for component in COMPONENTS:
        assert egress_ports_to("lmx-migrate", component) == set()


# ---------------------------------------------------------------------------
# Database roles
# ---------------------------------------------------------------------------


def init_sql() -> str:
    return (DEPLOY / "postgres-init.sql").read_text(encoding="utf-8")


def statements_in(sql: str, database: str) -> str:
    """The statements run while connected to DATABASE (after its \\connect, up to the next one)."""
    parts = re.split(r"^\\connect\s+(\w+)\s*$", sql, flags=re.MULTILINE)
    blocks = dict(zip(parts[1::2], parts[2::2], strict=True))
    return blocks[database]


def test_a_login_role_per_component_and_an_owner_for_the_migrations() -> None:
    sql = init_sql()
    roles = dict(re.findall(r"^CREATE ROLE (\w+) (.*);$", sql, flags=re.MULTILINE))
    assert set(roles) == {"lmx_owner", *(f"lmx_{c}" for c in COMPONENTS)}
    for role, options in roles.items():
        assert options.startswith("LOGIN PASSWORD :'"), "passwords come from psql variables, never the file"
        assert not re.search(r"SUPERUSER|CREATEDB|CREATEROLE|BYPASSRLS|REPLICATION", options), role
    for component in COMPONENTS:
        assert re.search(rf"^CREATE DATABASE {component} OWNER lmx_owner;$", sql, flags=re.MULTILINE)
        assert re.search(rf"^REVOKE ALL ON DATABASE {component} FROM PUBLIC;$", sql, flags=re.MULTILINE)


def test_each_component_role_works_with_rows_of_its_own_database_only() -> None:
    sql = init_sql()
    assert "GRANT ALL" not in sql.upper()
    grants = re.findall(r"^GRANT (.+) ON DATABASE (\w+) TO (\w+);$", sql, flags=re.MULTILINE)
    assert sorted(grants) == sorted(("CONNECT", c, f"lmx_{c}") for c in COMPONENTS)
    for component in COMPONENTS:
        block = statements_in(sql, component)
        role = f"lmx_{component}"
        assert "ALTER SCHEMA public OWNER TO lmx_owner;" in block
        assert "REVOKE ALL ON SCHEMA public FROM PUBLIC;" in block
        assert f"GRANT USAGE ON SCHEMA public TO {role};" in block  # USAGE, not CREATE: no DDL
        assert (
            "ALTER DEFAULT PRIVILEGES FOR ROLE lmx_owner IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};"
        ) in block
        assert (
            f"ALTER DEFAULT PRIVILEGES FOR ROLE lmx_owner IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role};"
        ) in block
        others = {f"lmx_{c}" for c in COMPONENTS} - {role}
        assert not any(re.search(rf"\b{other}\b", block) for other in others), component


# ---------------------------------------------------------------------------
# Image build: lock file with hashes, build context
# ---------------------------------------------------------------------------


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) of every requirement in requirements.lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = LOCK.read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", block)
        if match:
            entries[normalise(match[1])] = (match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return entries


def test_lock_file_pins_every_requirement_with_hashes() -> None:
    entries = locked()
    assert len(entries) > 20
    for name, (version, hashes) in entries.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), (name, version)
        assert hashes, f"{name} has no hash"


def test_lock_file_covers_every_dependency_in_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    entries = locked()
    requirements = list(pyproject["project"]["dependencies"]) + list(pyproject["build-system"]["requires"])
    for requirement in requirements:
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)", requirement)
        assert match, requirement
        name, spec = normalise(match[1]), match[3].split(";")[0].strip()
        assert name in entries, f"{requirement} is not in requirements.lock (regenerate it: deploy/README.md)"
        if spec.startswith("=="):
            assert entries[name][0] == spec[2:], f"{requirement}: the lock has {entries[name][0]}"


def dockerfile_runs() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [line.strip()[4:] for line in joined.splitlines() if line.strip().startswith("RUN ")]


def test_dockerfile_installs_the_dependencies_from_the_lock_with_hashes_only() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^COPY requirements\.lock ", text, flags=re.MULTILINE)
    installs = [c for run in dockerfile_runs() for c in run.split("&&") if "pip install" in c]
    assert any(re.search(r"pip install .*--require-hashes .*-r requirements\.lock", c) for c in installs)
    for command in installs:
        # Anything else installs the project alone, with nothing fetched (no dependencies, no build isolation).
        if "--require-hashes" not in command:
            assert "--no-deps" in command and "--no-build-isolation" in command, command


def dockerignore_patterns(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule, simplified: a path is out when it or a parent folder matches the last matching pattern."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        bare = pattern.lstrip("!")
        options = {bare, bare.removeprefix("**/")}
        hit = any(
            fnmatch.fnmatchcase(candidate, option) or fnmatch.fnmatchcase(candidate.split("/")[-1], option)
            if option != bare or not bare.startswith("**/")
            else fnmatch.fnmatchcase(candidate, option)
            for candidate in candidates
            for option in options
        )
        if hit:
            verdict = not negated
    return verdict


def test_root_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context() -> None:
    root = dockerignore_patterns(ROOT / ".dockerignore")
    # BuildKit reads deploy/Dockerfile.dockerignore instead: the same list.
    assert root == dockerignore_patterns(DEPLOY / "Dockerfile.dockerignore")
    for path in (
        ".venv/bin/python",
        "var/demo-clients.json",
        "var/gateway.db",
        "var/soak/latest.json",
        ".git/config",
        ".pytest_cache/v/cache",
        ".mypy_cache/3.11/x.json",
        "gateway/__pycache__/main.cpython-311.pyc",
        "deploy/.env",
        "tests/unit/test_x.py",
    ):
        assert ignored(root, path), f"{path} would be sent to the builder"
    for path in (
        "requirements.lock",
        "pyproject.toml",
        "README.md",
        "gateway/main.py",
        "services/registry/main.py",
        "migrations/registry/env.py",
        "deploy/.env.example",
    ):
        assert not ignored(root, path), f"{path} is needed by the build"


# ---------------------------------------------------------------------------
# Compose v2
# ---------------------------------------------------------------------------

COMPOSE_SERVICE_KEYS = {
    "image",
    "build",
    "command",
    "environment",
    "depends_on",
    "healthcheck",
    "ports",
    "volumes",
    "read_only",
    "tmpfs",
    "cap_drop",
    "security_opt",
    "restart",
}


def test_compose_file_is_what_the_compose_v2_plugin_accepts() -> None:
    """What `docker compose config` checks beyond YAML, for the constructs this file uses (no Compose v2
    plugin in Debian's archive to run it here; docs/decisions/0032)."""
    doc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert "version" not in doc, "obsolete in Compose v2"
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", doc["name"]), "project names are lower case"
    top = {key for key in doc if not key.startswith("x-")}
    assert top <= {"name", "services", "volumes", "networks", "configs", "secrets"}
    declared_volumes = set(doc.get("volumes") or {})
    for name, service in doc["services"].items():
        assert set(service) <= COMPOSE_SERVICE_KEYS, (name, set(service) - COMPOSE_SERVICE_KEYS)
        assert "image" in service or "build" in service, name
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in doc["services"], (name, dependency)
            assert condition["condition"] in {"service_started", "service_healthy", "service_completed_successfully"}
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in doc["services"][dependency], (name, dependency)
        if "healthcheck" in service:
            assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL", "NONE"}, name
        for key, value in (service.get("environment") or {}).items():
            # Compose v2 refuses booleans and nulls in an environment mapping.
            assert isinstance(value, str | int | float) and not isinstance(value, bool), (name, key)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, (name, source)
            else:
                assert (DEPLOY / source).exists(), (name, source)
        assert service.get("restart", "no") in {"no", "always", "on-failure", "unless-stopped"}

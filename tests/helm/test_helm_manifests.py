"""What the rendered manifests must say, whatever the scenario: HA really is HA,
probes speak gRPC, nothing runs as root or writes its image, and secrets stay in
Secrets."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import yaml

HA = "values-ha-bundled-etcd.yaml"
EXTERNAL = "values-external-etcd-tls.yaml"
EMBEDDED = "values-embedded.yaml"
AGENTS_ONLY = "values-agents-only.yaml"
INSECURE = "values-insecure-readiness.yaml"
API_SERVICE = "tp-tokenplane"


def server(manifests) -> dict:
    deployment = manifests.one("Deployment", "control-plane")
    (container,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "server"
    ]
    return container


def flag(container: dict, name: str) -> str | None:
    """The value of --name=value in the container's args (None when absent)."""
    for arg in container.get("args", []):
        if arg == f"--{name}":
            return ""
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def labels_match(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- HA ----------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, HA], ids=["defaults", "ha-bundled-etcd"])
def test_ha_runs_several_leader_elected_replicas_on_all_etcd_members(render, ci_dir, values):
    manifests = render(ci_dir / values) if values else render()
    deployment = manifests.one("Deployment", "control-plane")
    etcd = manifests.one("StatefulSet", "etcd")
    container = server(manifests)

    assert deployment["spec"]["replicas"] >= 2
    assert flag(container, "leader-elect") == ""
    assert etcd["spec"]["replicas"] == 3

    # --store lists every member of the bundled etcd by its stable DNS name, over TLS.
    store = flag(container, "store")
    scheme, _, hosts = store.partition("://")
    assert scheme == "etcds"
    sts, headless, ns = etcd["metadata"]["name"], etcd["spec"]["serviceName"], "tokenplane"
    assert hosts.split(",") == [
        f"{sts}-{i}.{headless}.{ns}.svc.cluster.local:2379" for i in range(3)
    ]
    assert manifests.one("Service", "etcd")["metadata"]["name"] == headless
    for name in ("etcd-ca-file", "etcd-cert-file", "etcd-key-file"):
        assert flag(container, name), f"--{name} missing"

    # etcd members keep their data on their own volumes.
    (claim,) = etcd["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"]


def test_ha_control_plane_survives_losing_a_node(render, ci_dir):
    manifests = render(ci_dir / HA)
    deployment = manifests.one("Deployment", "control-plane")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    pdb = manifests.one("PodDisruptionBudget", "control-plane")
    assert labels_match(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert pdb["spec"]["maxUnavailable"] == 1

    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert labels_match(term["labelSelector"]["matchLabels"], pod_labels)

    # A rolling update never takes the last Ready replica away.
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    etcd = manifests.one("StatefulSet", "etcd")
    etcd_pdb = manifests.one("PodDisruptionBudget", "etcd")
    assert labels_match(
        etcd_pdb["spec"]["selector"]["matchLabels"], etcd["spec"]["template"]["metadata"]["labels"]
    )
    assert etcd_pdb["spec"]["maxUnavailable"] == 1
    assert etcd["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]


def test_api_service_reaches_only_the_leader(render, ci_dir):
    manifests = render(ci_dir / HA)
    service = manifests.one("Service", name=API_SERVICE)
    assert service["spec"]["selector"]["tokenplane.io/leader"] == "true"
    container = server(manifests)
    assert flag(container, "leader-label-pod") == "$(POD_NAMESPACE)/$(POD_NAME)"
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"

    # Least privilege: get and patch pods in the release's namespace, nothing else.
    (rule,) = manifests.one("Role", "control-plane")["rules"]
    assert rule == {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]}
    assert not manifests.kind("ClusterRole")
    assert not manifests.kind("ClusterRoleBinding")


def test_readiness_routing_needs_no_kubernetes_api(render, ci_dir):
    manifests = render(ci_dir / INSECURE)
    container = server(manifests)
    deployment = manifests.one("Deployment", "control-plane")
    assert container["readinessProbe"]["grpc"]["service"] == "tokenplane.v1.FleetService"
    assert (
        "tokenplane.io/leader" not in manifests.one("Service", name=API_SERVICE)["spec"]["selector"]
    )
    assert flag(container, "leader-label-pod") is None
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert not manifests.kind("Role")
    # Only the leader is ever Ready: a budget could never let it go, and a rolling
    # update could never wait for a Ready successor.
    assert not [
        p for p in manifests.kind("PodDisruptionBudget") if "etcd" not in p["metadata"]["name"]
    ]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == "100%"


def test_external_etcd_with_tls_and_external_ray(render, ci_dir):
    manifests = render(ci_dir / EXTERNAL)
    values = yaml.safe_load((ci_dir / EXTERNAL).read_text())
    container = server(manifests)
    assert not manifests.kind("StatefulSet")
    assert flag(container, "store") == "etcds://" + ",".join(
        values["etcd"]["external"]["endpoints"]
    )
    assert flag(container, "leader-elect") == ""
    assert flag(container, "ray-address") == values["controlPlane"]["ray"]["address"]

    # The etcd client certificate comes from the named Secret, as files.
    volumes = {
        v["name"]: v for v in manifests.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    }
    assert (
        volumes["etcd-tls"]["secret"]["secretName"]
        == values["etcd"]["external"]["tls"]["secretName"]
    )
    assert flag(container, "etcd-ca-file") == "/etc/tokenplane/etcd/ca.crt"
    assert flag(container, "etcd-cert-file") == "/etc/tokenplane/etcd/tls.crt"

    cert = manifests.one("Certificate")
    assert cert["spec"]["secretName"] == volumes["tls"]["secret"]["secretName"]
    assert "tokenplane.example.com" in cert["spec"]["dnsNames"]
    assert cert["spec"]["issuerRef"]["kind"] == "ClusterIssuer"


def test_embedded_store_is_one_replica_with_its_own_volume(render, ci_dir):
    manifests = render(ci_dir / EMBEDDED)
    deployment = manifests.one("Deployment", "control-plane")
    container = server(manifests)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert flag(container, "store") == "sqlite:///var/lib/tokenplane/tokenplane.db"
    assert flag(container, "leader-elect") is None
    assert not manifests.kind("StatefulSet")
    assert not manifests.kind("PodDisruptionBudget")
    pvc = manifests.one("PersistentVolumeClaim")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["data"] == "/var/lib/tokenplane"


def test_agents_only_join_the_given_control_plane(render, ci_dir):
    manifests = render(ci_dir / AGENTS_ONLY)
    values = yaml.safe_load((ci_dir / AGENTS_ONLY).read_text())
    assert not manifests.kind("Deployment")
    assert not manifests.kind("StatefulSet")
    assert not manifests.kind("Secret"), "agents-only must use the given Secrets, not make new ones"
    daemonset = manifests.one("DaemonSet", "agent")
    spec = daemonset["spec"]["template"]["spec"]
    (agent,) = spec["containers"]
    assert flag(agent, "server") == values["agent"]["server"]
    assert flag(agent, "ca-file") == "/etc/tokenplane/tls/ca.crt"
    assert flag(agent, "insecure") is None
    assert spec["nodeSelector"] == values["agent"]["nodeSelector"]
    assert spec["tolerations"] == values["agent"]["tolerations"]
    env = {e["name"]: e for e in agent["env"]}
    assert env["TOKENPLANE_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"

    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["bootstrap-token"]["secret"]["secretName"] == "tokenplane-bootstrap-token"
    assert volumes["tls"]["secret"]["secretName"] == "tokenplane-ca"

    node = yaml.safe_load(manifests.one("ConfigMap", "agent")["data"]["node.yaml"])
    assert node["spec"]["location"]["country"] == "US"


@pytest.mark.parametrize(
    "values", [HA, AGENTS_ONLY, INSECURE], ids=["ha", "agents-only", "process"]
)
def test_agent_config_is_what_the_agent_accepts(render, ci_dir, values):
    """node.yaml passes the agent's own config parser once the agent has put in its
    node's name (from TOKENPLANE_NODE_NAME), and holds no secret."""
    from agents.config import parse_config

    manifests = render(ci_dir / values)
    doc = yaml.safe_load(manifests.one("ConfigMap", "agent")["data"]["node.yaml"])
    assert "name" not in doc["metadata"], "each agent names its Node after its own node"
    doc["metadata"]["name"] = "edge-node-1"
    config = parse_config(doc)
    assert config.kind == "Node" and config.api_version == "tokenplane.io/v1"
    assert config.spec.tier == "edge"
    assert config.spec.power.budget_kw > 0


def test_agents_with_the_kubernetes_driver_manage_only_their_replicas(render, ci_dir):
    manifests = render(ci_dir / HA)
    config = yaml.safe_load(manifests.one("ConfigMap", "agent")["data"]["node.yaml"])
    runtime = config["agent"]["runtime"]
    assert runtime["driver"] == "kubernetes"
    assert runtime["namespace"] == "tokenplane"
    role = manifests.one("Role", "agent")
    assert role["metadata"]["namespace"] == runtime["namespace"]
    assert {(r["apiGroups"][0], r["resources"][0]): set(r["verbs"]) for r in role["rules"]} == {
        ("apps", "deployments"): {"get", "list", "watch", "create", "update", "patch", "delete"},
        ("", "services"): {"get", "list", "watch", "create", "update", "patch", "delete"},
        ("", "pods"): {"get", "list", "watch"},
    }
    binding = manifests.one("RoleBinding", "agent")
    (subject,) = binding["subjects"]
    daemonset = manifests.one("DaemonSet", "agent")
    assert subject["name"] == daemonset["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


# --- Probes --------------------------------------------------------------------------


def test_control_plane_probes_are_grpc_health_checks(render, ci_values):
    manifests = render(ci_values)
    if not manifests.kind("Deployment"):
        assert ci_values.name == AGENTS_ONLY, "only the agents-only scenario has no control plane"
        return
    container = server(manifests)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        handler = container[probe]
        assert set(handler) & {"grpc", "httpGet", "tcpSocket", "exec"} == {"grpc"}, probe
        # The kubelet's gRPC probe cannot speak TLS: it checks the plaintext health port.
        assert handler["grpc"]["port"] == ports["health"]
    # Liveness asks for the overall health (""), which standbys report too.
    assert container["livenessProbe"]["grpc"].get("service", "") == ""
    assert flag(container, "health-listen") == f"0.0.0.0:{ports['health']}"
    assert flag(container, "listen") == f"0.0.0.0:{ports['grpc']}"


# --- Security ------------------------------------------------------------------------


def test_no_container_runs_as_root_or_writes_its_image(render, ci_values):
    manifests = render(ci_values)
    problems = []
    for name, spec in manifests.pod_specs():
        pod_sc = spec.get("securityContext", {})
        if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
            problems.append(f"{name}: shares a host namespace")
        for volume in spec.get("volumes", []):
            if "hostPath" in volume:
                problems.append(f"{name}: hostPath volume {volume['name']}")
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c.get("securityContext", {})
            where = f"{name}/{c['name']}"
            # A container's setting wins over the pod's.
            effective = {**pod_sc, **sc}.get

            if effective("runAsNonRoot") is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            if effective("runAsUser") in (None, 0):
                problems.append(f"{where}: no non-root runAsUser")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem is writable")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation allowed")
            if sc.get("privileged"):
                problems.append(f"{where}: privileged")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: capabilities not all dropped")
            if sc.get("capabilities", {}).get("add"):
                problems.append(f"{where}: adds capabilities")
            if (effective("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{where}: no RuntimeDefault seccomp profile")
            limits = c.get("resources", {}).get("limits", {})
            requests = c.get("resources", {}).get("requests", {})
            if not ({"cpu", "memory"} <= requests.keys() and "memory" in limits):
                problems.append(f"{where}: needs cpu/memory requests and a memory limit")
    assert not problems, "\n".join(problems)


def test_tokenplane_containers_have_writable_tmp_and_shm(render, ci_values):
    """Read-only root: Python and Ray write under /tmp; Ray's object store needs /dev/shm."""
    manifests = render(ci_values)
    for name, spec in manifests.pod_specs():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"]:
            if not c["image"].split("@")[0].rsplit(":", 1)[0].endswith("tokenplane/tokenplane"):
                continue
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp is not an emptyDir"
            if c["name"] == "server":
                assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"


def test_api_tokens_only_where_the_kubernetes_api_is_used(render, ci_values):
    """Pods get a service-account token only to label the leader's pod or, for agents
    with the kubernetes runtime driver, to manage the replicas' Deployments."""
    manifests = render(ci_values)
    for name, spec in manifests.pod_specs():
        needs_api = any(flag(c, "leader-label-pod") for c in spec["containers"])
        if name.startswith("DaemonSet/"):
            config = yaml.safe_load(manifests.one("ConfigMap", "agent")["data"]["node.yaml"])
            needs_api = config["agent"]["runtime"]["driver"] == "kubernetes"
        assert spec.get("automountServiceAccountToken") is needs_api, name
    for sa in manifests.kind("ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


def _secret_values(manifests) -> list[str]:
    """Every token and key the rendered Secrets hold, decoded (certificates are public)."""
    found = []
    for secret in manifests.kind("Secret"):
        for key, value in secret.get("data", {}).items():
            if key.endswith(".crt"):
                continue
            text = base64.b64decode(value).decode()
            found.append(text)
            if key.endswith(".yaml"):
                found += [t["token"] for t in yaml.safe_load(text)]
    return found


@pytest.mark.parametrize(
    "values", [None, HA, EMBEDDED, INSECURE], ids=["defaults", "ha", "embedded", "insecure"]
)
def test_secrets_stay_in_secrets(render, ci_dir, values):
    manifests = render(ci_dir / values) if values else render()
    secrets = _secret_values(manifests)
    assert len(secrets) >= 3, "expected generated bootstrap and admin tokens"
    for doc in manifests.docs:
        if doc["kind"] == "Secret":
            continue
        text = yaml.safe_dump(doc)
        for secret in secrets:
            for line in secret.strip().splitlines():
                if len(line) >= 16:
                    assert line not in text, (
                        f"{doc['kind']}/{doc['metadata']['name']} holds a secret"
                    )
    # Tokens and keys reach the processes as files from Secret volumes, never as
    # literal arguments or environment values.
    for name, spec in manifests.pod_specs():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"]:
            mounts = sorted(
                ((m["mountPath"], m) for m in c.get("volumeMounts", [])),
                key=lambda pm: -len(pm[0]),
            )
            for arg in c.get("args", []):
                match = re.match(r"--([a-z-]*(token|key|cert|ca)[a-z-]*)=(/.*)", arg)
                if not match:
                    continue
                path = match.group(3)
                mount = next(m for p, m in mounts if path.startswith(p.rstrip("/") + "/"))
                assert "secret" in volumes[mount["name"]], (
                    f"{name}: {arg} is not read from a Secret"
                )
            for env in c.get("env", []):
                assert not re.search(r"token|password|secret|key", env["name"], re.I) or (
                    "valueFrom" in env or env["value"].startswith("/")
                ), f"{name}: env {env['name']} holds a literal secret"


def test_generated_tokens_are_usable(render):
    manifests = render()
    by_name = {s["metadata"]["name"]: s for s in manifests.kind("Secret")}
    tokens = by_name["tp-tokenplane-api-tokens"]["data"]
    admin = base64.b64decode(tokens["admin-token"]).decode()
    listed = yaml.safe_load(base64.b64decode(tokens["tokens.yaml"]))
    assert listed == [{"name": "admin", "role": "admin", "token": admin}]
    assert len(admin) >= 32
    bootstrap = base64.b64decode(by_name["tp-tokenplane-bootstrap-token"]["data"]["token"]).decode()
    assert len(bootstrap) >= 32 and bootstrap != admin
    tls = by_name["tp-tokenplane-tls"]
    assert tls["type"] == "kubernetes.io/tls"
    assert set(tls["data"]) == {"tls.crt", "tls.key", "ca.crt"}


def test_node_tokens_are_signed_with_a_key_from_a_secret_and_etcd_talks_tls(render):
    """The server keeps no secret in its store: the node-token key is a Secret mounted as a
    file, one for every replica, and the bundled etcd is reached over TLS by default."""
    manifests = render()
    by_name = {s["metadata"]["name"]: s for s in manifests.kind("Secret")}
    key = base64.b64decode(by_name["tp-tokenplane-node-signing-key"]["data"]["key"]).decode()
    assert len(key) >= 32
    container = server(manifests)
    assert flag(container, "signing-key-file") == "/etc/tokenplane/signing-key/key"
    assert flag(container, "node-token-ttl") == "86400"
    assert flag(container, "store").startswith("etcds://")
    assert flag(container, "etcd-ca-file") and flag(container, "etcd-cert-file")


def test_tls_is_on_by_default_and_insecure_only_when_asked(render, ci_dir):
    container = server(render())
    assert flag(container, "allow-insecure") is None
    assert flag(container, "tls-cert-file") and flag(container, "tls-key-file")
    insecure = render(ci_dir / INSECURE)
    container = server(insecure)
    assert flag(container, "allow-insecure") == ""
    assert flag(container, "tls-cert-file") is None
    (agent,) = insecure.one("DaemonSet")["spec"]["template"]["spec"]["containers"]
    assert flag(agent, "insecure") == ""


# --- Network ---------------------------------------------------------------------------


def test_network_policies_expose_only_the_api_and_metrics(render, ci_dir):
    manifests = render(ci_dir / HA)
    policies = {
        p["metadata"]["labels"]["app.kubernetes.io/component"]: p
        for p in manifests.kind("NetworkPolicy")
    }
    assert set(policies) == {"control-plane", "etcd", "agent"}
    cp_ports = [
        port["port"]
        for rule in policies["control-plane"]["spec"]["ingress"]
        for port in rule["ports"]
    ]
    assert sorted(cp_ports) == ["grpc", "metrics"]

    # etcd is reachable from the control plane and its peers only.
    sources = [
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for rule in policies["etcd"]["spec"]["ingress"]
        for peer in rule["from"]
    ]
    assert set(sources) == {"control-plane", "etcd"}
    # Agents accept scrapes of their metrics port, nothing else.
    agent_ports = [
        port["port"] for rule in policies["agent"]["spec"]["ingress"] for port in rule["ports"]
    ]
    assert agent_ports == ["metrics"]


# --- Labels, names, image --------------------------------------------------------------


def test_standard_labels_and_selectors(render, ci_values):
    manifests = render(ci_values)
    standard = {
        "app.kubernetes.io/name",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
        "app.kubernetes.io/managed-by",
        "app.kubernetes.io/component",
        "app.kubernetes.io/part-of",
        "helm.sh/chart",
    }
    for doc in manifests.docs:
        labels = doc["metadata"].get("labels", {})
        assert standard <= labels.keys(), f"{doc['kind']}/{doc['metadata']['name']}: {labels}"
        assert len(doc["metadata"]["name"]) <= 63
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            selector = doc["spec"]["selector"]["matchLabels"]
            assert "app.kubernetes.io/version" not in selector, (
                "selectors must not change on upgrade"
            )
            assert labels_match(selector, doc["spec"]["template"]["metadata"]["labels"])


def test_long_release_names_are_cut_to_63_characters(helm_template):
    result = helm_template(
        sets=[
            "fullnameOverride=" + "x" * 63,
            "agent.enabled=true",
            "agent.node.spec.location.lat=1",
            "agent.node.spec.power.budgetKw=1",
        ]
    )
    assert result.returncode == 0, result.stderr
    for doc in yaml.safe_load_all(result.stdout):
        if doc:
            assert len(doc["metadata"]["name"]) <= 63, doc["metadata"]["name"]
            assert not doc["metadata"]["name"].endswith("-")


def test_image_tag_follows_app_version(render, chart_dir: Path):
    app_version = yaml.safe_load((chart_dir / "Chart.yaml").read_text())["appVersion"]
    image = server(render())["image"]
    assert image == f"ghcr.io/tokenplane/tokenplane:{app_version}"
    pinned = server(render(sets=["image.digest=sha256:" + "a" * 64]))["image"]
    assert pinned == "ghcr.io/tokenplane/tokenplane@sha256:" + "a" * 64


# --- helm test ----------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, INSECURE], ids=["tls", "plaintext"])
def test_helm_test_runs_tpctl_get_nodes_against_the_api_service(
    render, ci_dir, tmp_path, monkeypatch, values
):
    """The hook's tpctl config, read by tpctl's own config loader, reaches the installed
    API Service with the admin token and CA mounted from their Secrets."""
    from controlplane.cli.config import resolve
    from controlplane.cli.params import Globals

    manifests = render(ci_dir / values) if values else render()
    pod = manifests.one("Pod", "test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["command"] + container["args"] == ["tpctl", "get", "nodes"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}

    config_dir, config_file = env["TPCTL_CONFIG"].rsplit("/", 1)
    configmap = manifests.one(
        "ConfigMap", "test", name=volumes[mounts[config_dir]]["configMap"]["name"]
    )
    path = tmp_path / config_file
    path.write_text(configmap["data"][config_file])
    monkeypatch.delenv("TOKENPLANE_SERVER", raising=False)
    # (a --token stands in for the token file, which exists only in the pod)
    target = resolve(Globals(config_file=path, token="stand-in"))

    service = manifests.one("Service", name=API_SERVICE)
    assert target.server == f"{API_SERVICE}.tokenplane.svc:{service['spec']['ports'][0]['port']}"

    def secret_of(file: str) -> str:
        directory = next(p for p in mounts if file.startswith(p + "/"))
        return volumes[mounts[directory]]["secret"]["secretName"]

    tokens = yaml.safe_load(configmap["data"][config_file])["contexts"][0]["tokenFile"]
    assert secret_of(tokens) == "tp-tokenplane-api-tokens"
    if values is None:
        assert target.tls
        assert secret_of(str(target.ca_file)) == "tp-tokenplane-tls"
    else:
        assert not target.tls

"""The kubernetes runtime driver against the official client's objects, with no cluster.

The API classes are replaced by an in-memory double that stores the client's
own V1Deployment / V1Service objects and answers 404 and 409 as the API server
does; the objects the driver builds are validated against Kubernetes' OpenAPI
schemas offline (kubernetes-validate). What this cannot show: a real scheduler
placing the pod on a GPU, image pulls, readiness as the kubelet probes it, RBAC,
and the client's HTTP, auth and kubeconfig handling.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from agents.config import KubernetesRuntimeConfig
from agents.runtimes.kubernetes import (
    ANNOTATION_REPLICA,
    KubernetesRuntime,
    adopted,
    build_objects,
    discover,
    object_name,
    phase_of,
)
from tests.agents.support import async_wait_until, replica
from tokenplane.v1 import agent_pb2

CONFIG = KubernetesRuntimeConfig.model_validate(
    {
        "driver": "kubernetes",
        "namespace": "edge",
        "pollSeconds": 0.05,
        "templates": {
            "vllm": {
                "image": "vllm/vllm-openai:v0.8.5",
                "args": ["--model", "{artifact}", "--port", "{port}", "-tp", "{gpus}"],
                "port": 8000,
                "env": {"HF_HUB_OFFLINE": "1"},
            }
        },
    }
)


class FakeCluster:
    """AppsV1Api and CoreV1Api in memory: the calls the driver makes, with the API's errors."""

    def __init__(self) -> None:
        self.deployments: dict[str, k8s.V1Deployment] = {}
        self.services: dict[str, k8s.V1Service] = {}
        self.calls: list[str] = []

    def _get(self, store: dict[str, Any], name: str) -> Any:
        if name not in store:
            raise ApiException(status=404, reason="Not Found")
        return copy.deepcopy(store[name])

    def create_namespaced_deployment(self, ns: str, body: k8s.V1Deployment) -> None:
        self.calls.append(f"create deployment {body.metadata.name}")
        if body.metadata.name in self.deployments:
            raise ApiException(status=409, reason="AlreadyExists")
        self.deployments[body.metadata.name] = copy.deepcopy(body)

    def replace_namespaced_deployment(self, name: str, ns: str, body: k8s.V1Deployment) -> None:
        self.calls.append(f"replace deployment {name}")
        self._get(self.deployments, name)
        self.deployments[name] = copy.deepcopy(body)

    def read_namespaced_deployment(self, name: str, ns: str) -> k8s.V1Deployment:
        return self._get(self.deployments, name)

    read_namespaced_deployment_status = read_namespaced_deployment

    def delete_namespaced_deployment(self, name: str, ns: str, **kw: object) -> None:
        self.calls.append(f"delete deployment {name}")
        self._get(self.deployments, name)
        del self.deployments[name]

    def list_namespaced_deployment(self, ns: str, label_selector: str) -> k8s.V1DeploymentList:
        wanted = dict(term.split("=") for term in label_selector.split(","))
        items = [
            d
            for d in self.deployments.values()
            if all(d.metadata.labels.get(k) == v for k, v in wanted.items())
        ]
        return k8s.V1DeploymentList(items=items)

    def create_namespaced_service(self, ns: str, body: k8s.V1Service) -> None:
        self.calls.append(f"create service {body.metadata.name}")
        if body.metadata.name in self.services:
            raise ApiException(status=409, reason="AlreadyExists")
        body = copy.deepcopy(body)
        body.spec.cluster_ip = "10.96.0.10"
        self.services[body.metadata.name] = body

    def read_namespaced_service(self, name: str, ns: str) -> k8s.V1Service:
        return self._get(self.services, name)

    def replace_namespaced_service(self, name: str, ns: str, body: k8s.V1Service) -> None:
        self.calls.append(f"replace service {name}")
        self.services[name] = copy.deepcopy(body)

    def delete_namespaced_service(self, name: str, ns: str, **kw: object) -> None:
        self.calls.append(f"delete service {name}")
        self._get(self.services, name)
        del self.services[name]

    def list_namespaced_pod(self, ns: str, label_selector: str) -> k8s.V1PodList:
        key, value = label_selector.split("=")
        pods = [
            k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=f"{name}-7d9f-x2x"))
            for name, d in self.deployments.items()
            if d.spec.template.metadata.labels.get(key) == value
        ]
        return k8s.V1PodList(items=pods)

    def read_namespaced_pod_log(self, name: str, ns: str, tail_lines: int) -> str:
        return f"log of {name}, last {tail_lines} lines\n"

    def make_available(self, name: str) -> None:
        self.deployments[name].status = k8s.V1DeploymentStatus(available_replicas=1)


Scenario = Callable[[KubernetesRuntime, FakeCluster, list[agent_pb2.ReplicaState]], Awaitable[None]]


def run(scenario: Scenario, cluster: FakeCluster | None = None) -> None:
    cluster = cluster or FakeCluster()

    async def main() -> None:
        reports: list[agent_pb2.ReplicaState] = []
        existing = adopted(await discover(cluster, "edge", "edge-k8s-1"))  # type: ignore[arg-type]
        runtime = KubernetesRuntime(
            CONFIG,
            "edge-k8s-1",
            reports.append,
            apps=cluster,  # type: ignore[arg-type]
            core=cluster,  # type: ignore[arg-type]
            existing=existing,
        )
        try:
            await scenario(runtime, cluster, reports)
        finally:
            await runtime.close()

    asyncio.run(main())


def phase(rt: KubernetesRuntime, name: str) -> str:
    return {s.name: s.phase for s in rt.states()}.get(name, "")


def vllm(name: str, gpus: int = 1) -> Any:
    r = replica(name, runtime="vllm", gpus=gpus, gpu_model="L4")
    r.spec.model.artifact_uri = "hf://meta-llama/Llama-3.1-8B"
    return r


def test_objects_are_valid_kubernetes_manifests() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    template = CONFIG.templates["vllm"]
    deployment, service = build_objects(
        vllm("chat-1a2b", gpus=2),
        7,
        template,
        namespace="edge",
        node="edge-k8s-1",
        service_type="ClusterIP",
    )
    api = k8s.ApiClient()
    for obj in (deployment, service):
        manifest = api.sanitize_for_serialization(obj)
        kubernetes_validate.validate(manifest, kubernetes_validate.utils.latest_version(), True)
    container = deployment.spec.template.spec.containers[0]
    assert container.args == [
        "--model",
        "hf://meta-llama/Llama-3.1-8B",
        "--port",
        "8000",
        "-tp",
        "2",
    ]
    assert container.resources.limits == {"nvidia.com/gpu": "2"}
    assert container.readiness_probe.http_get.path == "/health"
    assert deployment.spec.strategy.type == "Recreate"
    assert deployment.metadata.annotations["tokenplane.io/generation"] == "7"
    assert service.spec.selector == deployment.spec.selector.match_labels


def test_long_names_become_valid_service_names() -> None:
    name = object_name("a" * 80 + ".with.dots")
    assert len(name) <= 63 and name.startswith("tp-") and "." not in name
    assert object_name("chat-1a2b") == "tp-chat-1a2b"


def test_deploy_creates_then_follows_status_to_running() -> None:
    async def scenario(rt: KubernetesRuntime, cluster: FakeCluster, reports: list[Any]) -> None:
        rt.deploy(vllm("chat-1"), 1)
        await async_wait_until(lambda: phase(rt, "chat-1") == "Starting", 2, "Starting")
        assert cluster.calls == ["create deployment tp-chat-1", "create service tp-chat-1"]
        cluster.make_available("tp-chat-1")
        await async_wait_until(lambda: phase(rt, "chat-1") == "Running", 2, "Running")
        (state,) = rt.states()
        assert state.endpoint == "http://tp-chat-1.edge.svc.cluster.local:8000"
        assert [s.phase for s in reports] == ["Starting", "Running"]
        assert rt.usage() == ({"L4": 1}, 0.0)

    run(scenario)


def test_a_changed_replica_updates_and_a_deleted_deployment_is_recreated() -> None:
    async def scenario(rt: KubernetesRuntime, cluster: FakeCluster, reports: list[Any]) -> None:
        rt.deploy(vllm("chat-1"), 1)
        await async_wait_until(lambda: "tp-chat-1" in cluster.deployments, 2, "created")
        rt.deploy(vllm("chat-1"), 2)  # the same: nothing to do
        changed = vllm("chat-1")
        changed.spec.model.artifact_uri = "hf://meta-llama/Llama-3.1-8B-Instruct"
        rt.deploy(changed, 3)
        await async_wait_until(
            lambda: "replace deployment tp-chat-1" in cluster.calls, 2, "replaced"
        )
        assert "replace service tp-chat-1" in cluster.calls
        args = cluster.deployments["tp-chat-1"].spec.template.spec.containers[0].args
        assert args[1] == "hf://meta-llama/Llama-3.1-8B-Instruct"

        del cluster.deployments["tp-chat-1"]  # someone deleted it by hand
        await async_wait_until(lambda: "tp-chat-1" in cluster.deployments, 2, "recreated")
        assert any("deleted; creating it again" in s.message for s in reports)

    run(scenario)


def test_logs_come_from_the_replicas_pod() -> None:
    async def scenario(rt: KubernetesRuntime, cluster: FakeCluster, reports: list[Any]) -> None:
        rt.deploy(vllm("chat-1"), 1)
        await async_wait_until(lambda: "tp-chat-1" in cluster.deployments, 2, "created")
        assert await rt.logs("chat-1", 20) == "log of tp-chat-1-7d9f-x2x, last 20 lines\n"
        with pytest.raises(LookupError, match="no pod for replica other"):
            await rt.logs("other", 20)

    run(scenario)


def test_undeploy_deletes_both_objects() -> None:
    async def scenario(rt: KubernetesRuntime, cluster: FakeCluster, reports: list[Any]) -> None:
        rt.deploy(vllm("chat-1"), 1)
        await async_wait_until(lambda: phase(rt, "chat-1") == "Starting", 2, "Starting")
        rt.undeploy("chat-1", 2)
        await async_wait_until(lambda: not rt.states(), 2, "Stopped")
        assert not cluster.deployments and not cluster.services
        assert [s.phase for s in reports][-2:] == ["Terminating", "Stopped"]
        assert reports[-1].generation == 2

    run(scenario)


def test_a_restarted_agent_adopts_what_the_cluster_runs() -> None:
    cluster = FakeCluster()

    async def first(rt: KubernetesRuntime, c: FakeCluster, reports: list[Any]) -> None:
        rt.deploy(vllm("chat-1"), 4)
        await async_wait_until(lambda: "tp-chat-1" in c.services, 2, "created")
        c.make_available("tp-chat-1")

    run(first, cluster)
    cluster.calls.clear()

    async def second(rt: KubernetesRuntime, c: FakeCluster, reports: list[Any]) -> None:
        (state,) = rt.states()
        assert (state.name, state.generation) == ("chat-1", 4)
        await async_wait_until(lambda: phase(rt, "chat-1") == "Running", 2, "Running")
        assert not [call for call in c.calls if call.startswith("create")], "adopted, not created"

    run(second, cluster)


def bare_spec() -> k8s.V1DeploymentSpec:
    return k8s.V1DeploymentSpec(selector=k8s.V1LabelSelector(), template=k8s.V1PodTemplateSpec())


def test_phases_from_deployment_status() -> None:
    def deployment(**status: Any) -> k8s.V1Deployment:
        return k8s.V1Deployment(spec=bare_spec(), status=k8s.V1DeploymentStatus(**status))

    assert phase_of(deployment(available_replicas=1)) == ("Running", "")
    stuck = k8s.V1DeploymentCondition(
        type="Progressing",
        status="False",
        reason="ProgressDeadlineExceeded",
        message='ReplicaSet "tp-x" has timed out progressing.',
    )
    assert phase_of(deployment(conditions=[stuck]))[0] == "Failed"
    waiting = k8s.V1DeploymentCondition(
        type="Available", status="False", message="Deployment does not have minimum availability."
    )
    assert phase_of(deployment(conditions=[waiting])) == (
        "Starting",
        "Deployment does not have minimum availability.",
    )
    assert phase_of(k8s.V1Deployment(spec=bare_spec())) == ("Starting", "")


def test_unknown_runtime_fails_and_foreign_deployments_are_not_adopted() -> None:
    cluster = FakeCluster()
    cluster.deployments["someone-elses"] = k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="someone-elses", labels={"app": "x"}), spec=bare_spec()
    )

    async def scenario(rt: KubernetesRuntime, c: FakeCluster, reports: list[Any]) -> None:
        assert rt.states() == []
        rt.deploy(replica("odd", runtime="sglang"), 1)
        await async_wait_until(lambda: phase(rt, "odd") == "Failed", 2, "Failed")
        assert "no container template for runtime 'sglang'" in reports[-1].message
        assert ANNOTATION_REPLICA not in str(c.deployments)

    run(scenario, cluster)

"""The `kubernetes` runtime driver: for an edge site that is itself a Kubernetes cluster.

Each replica becomes one Deployment (one pod, with the replica's GPUs as
extended resources and the template's health path as its readiness probe)
and one Service in front of it, through the official Kubernetes Python client.
Kubernetes restarts the pods; this driver creates, updates and deletes the
objects, and polls their status into replica phases:

    Deployment available (a ready pod)          -> Running, endpoint from the Service
    Progressing=False (ProgressDeadlineExceeded) -> Failed
    anything else                                -> Starting, with Kubernetes' message

The cluster is this driver's local state: every object carries the labels
`app.kubernetes.io/managed-by: tokenplane-agent` and `tokenplane.io/node`, and
the replica's spec and command generation in annotations, so a restarted
agent lists them and adopts them. A Deployment that disappears while wanted
is created again. The client is blocking: every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from agents.config import KubernetesRuntimeConfig, KubernetesTemplate
from agents.runtime import StateListener, requested_usage
from agents.templates import format_words
from controlplane.resources.wellknown import DEPLOYMENT_LABEL as LABEL_DEPLOYMENT
from controlplane.resources.wellknown import GENERATION_ANNOTATION as ANNOTATION_GENERATION
from controlplane.resources.wellknown import NODE_LABEL as LABEL_NODE
from controlplane.resources.wellknown import REPLICA_LABEL as LABEL_REPLICA
from controlplane.resources.wellknown import REPLICA_SPEC_ANNOTATION as ANNOTATION_REPLICA
from tokenplane.v1 import agent_pb2, resources_pb2

log = logging.getLogger(__name__)

MANAGED_BY = "tokenplane-agent"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"


def object_name(replica: str) -> str:
    """A DNS-1123 label (what a Service name must be): `tp-<replica>`, hashed if too long."""
    name = "tp-" + re.sub(r"[^a-z0-9-]", "-", replica.lower())
    if len(name) > 63:
        digest = hashlib.sha256(replica.encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{digest}"
    return name


def label_value(value: str) -> str:
    """A label value (≤ 63 characters of [-A-Za-z0-9_.], alphanumeric at both ends)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", value)[:63]
    return cleaned.strip("-_.")


def build_objects(
    replica: resources_pb2.Replica,
    generation: int,
    template: KubernetesTemplate,
    *,
    namespace: str,
    node: str,
    service_type: str,
) -> tuple[k8s.V1Deployment, k8s.V1Service]:
    """The Deployment and Service for one replica, as the client's own objects."""
    spec, name = replica.spec, replica.metadata.name
    values = {
        "model": spec.model.name,
        "version": spec.model.version,
        "artifact": spec.model.artifact_uri or spec.model.name,
        "port": str(template.port),
        "host": "0.0.0.0",
        "name": name,
        "deployment": spec.deployment,
        "gpus": str(spec.resources.gpus),
    }
    selector = {LABEL_REPLICA: label_value(name), LABEL_NODE: label_value(node)}
    labels = {
        **selector,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_DEPLOYMENT: label_value(spec.deployment),
    }
    annotations = {
        ANNOTATION_REPLICA: json_format.MessageToJson(replica, indent=None),
        ANNOTATION_GENERATION: str(generation),
    }
    gpus = {template.gpu_resource: str(spec.resources.gpus)} if spec.resources.gpus else None
    container = k8s.V1Container(
        name="model",
        image=template.image,
        command=format_words(template.command, values) or None,
        args=format_words(template.args, values) or None,
        env=[k8s.V1EnvVar(name=k, value=v) for k, v in sorted(template.env.items())] or None,
        ports=[k8s.V1ContainerPort(name="http", container_port=template.port)],
        resources=k8s.V1ResourceRequirements(limits=gpus, requests=gpus),
        readiness_probe=k8s.V1Probe(
            http_get=k8s.V1HTTPGetAction(path=template.health_path, port="http"),
            period_seconds=5,
            failure_threshold=3,
        ),
    )
    meta = k8s.V1ObjectMeta(
        name=object_name(name), namespace=namespace, labels=labels, annotations=annotations
    )
    deployment = k8s.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=meta,
        spec=k8s.V1DeploymentSpec(
            replicas=1,
            selector=k8s.V1LabelSelector(match_labels=selector),
            strategy=k8s.V1DeploymentStrategy(type="Recreate"),  # never two copies on one GPU
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels=labels),
                spec=k8s.V1PodSpec(containers=[container]),
            ),
        ),
    )
    service = k8s.V1Service(
        api_version="v1",
        kind="Service",
        metadata=meta,
        spec=k8s.V1ServiceSpec(
            type=service_type,
            selector=selector,
            ports=[k8s.V1ServicePort(name="http", port=template.port, target_port="http")],
        ),
    )
    return deployment, service


def phase_of(deployment: k8s.V1Deployment) -> tuple[str, str]:
    """(phase, message) of a replica from its Deployment's status."""
    status = deployment.status
    if status is not None and (status.available_replicas or 0) >= 1:
        return "Running", ""
    for condition in (status.conditions or []) if status else []:
        if condition.type == "Progressing" and condition.status == "False":
            return "Failed", condition.message or condition.reason or "not progressing"
    for condition in (status.conditions or []) if status else []:
        if condition.type == "Available" and condition.status == "False" and condition.message:
            return "Starting", condition.message
    return "Starting", ""


@dataclass(eq=False)
class _Replica:
    replica: resources_pb2.Replica
    generation: int
    phase: str = "Pending"
    message: str = ""
    endpoint: str = ""
    stopping: bool = False
    task: asyncio.Task[None] | None = None


def adopted(deployments: list[k8s.V1Deployment]) -> list[tuple[resources_pb2.Replica, int]]:
    """The replicas recorded in this node's Deployments (from `discover`)."""
    found = []
    for d in deployments:
        annotations = (d.metadata.annotations or {}) if d.metadata else {}
        if ANNOTATION_REPLICA not in annotations:
            continue
        replica = json_format.Parse(annotations[ANNOTATION_REPLICA], resources_pb2.Replica())
        found.append((replica, int(annotations.get(ANNOTATION_GENERATION, "0"))))
    return found


async def discover(apps: k8s.AppsV1Api, namespace: str, node: str) -> list[k8s.V1Deployment]:
    result = await asyncio.to_thread(
        apps.list_namespaced_deployment,
        namespace,
        label_selector=f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_NODE}={label_value(node)}",
    )
    items: list[k8s.V1Deployment] = result.items
    return items


class KubernetesRuntime:
    """Runs replicas as Deployments + Services. Create it inside the agent's event loop."""

    def __init__(
        self,
        config: KubernetesRuntimeConfig,
        node: str,
        on_state: StateListener,
        *,
        apps: k8s.AppsV1Api,
        core: k8s.CoreV1Api,
        existing: Sequence[tuple[resources_pb2.Replica, int]] = (),
    ) -> None:
        self._config = config
        self._node = node
        self._on_state = on_state
        self._apps = apps
        self._core = core
        self._replicas: dict[str, _Replica] = {}
        for replica, generation in existing:
            rep = _Replica(replica, generation, phase="Starting", message="adopted")
            self._replicas[replica.metadata.name] = rep
            rep.task = asyncio.get_running_loop().create_task(self._keep(rep, create=False))

    # The Runtime interface --------------------------------------------------------------

    def deploy(self, replica: resources_pb2.Replica, generation: int) -> None:
        name = replica.metadata.name
        rep = self._replicas.get(name)
        if rep is not None and not rep.stopping:
            if rep.replica == replica:
                self._report(rep)
                return
            rep.replica, rep.generation = replica, generation  # changed: update the objects
            if rep.task is not None:
                rep.task.cancel()
        elif rep is not None:
            self._report(rep)  # being deleted; the control plane will place it anew
            return
        else:
            rep = _Replica(replica, generation)
            self._replicas[name] = rep
        rep.task = asyncio.get_running_loop().create_task(self._keep(rep, create=True))

    def undeploy(self, name: str, generation: int) -> None:
        rep = self._replicas.get(name)
        if rep is None:
            self._on_state(
                agent_pb2.ReplicaState(name=name, phase="Stopped", generation=generation)
            )
            return
        if rep.stopping:
            return
        rep.stopping, rep.generation = True, generation
        if rep.task is not None:
            rep.task.cancel()
        rep.task = asyncio.get_running_loop().create_task(self._delete(rep))

    def states(self) -> list[agent_pb2.ReplicaState]:
        return [self._state_of(rep) for rep in self._replicas.values()]

    def usage(self) -> tuple[dict[str, int], float]:
        return requested_usage(rep.replica for rep in self._replicas.values())

    async def logs(self, name: str, lines: int) -> str:
        ns = self._config.namespace
        pods = await asyncio.to_thread(
            self._core.list_namespaced_pod,
            ns,
            label_selector=f"{LABEL_REPLICA}={label_value(name)}",
        )
        names = [p.metadata.name for p in pods.items if p.metadata and p.metadata.name]
        if not names:
            raise LookupError(f"no pod for replica {name} in namespace {ns}")
        text: str = await asyncio.to_thread(
            self._core.read_namespaced_pod_log, names[0], ns, tail_lines=lines
        )
        return text

    # Beyond the interface ---------------------------------------------------------------

    async def close(self) -> None:
        tasks = [r.task for r in self._replicas.values() if r.task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # Keeping each replica's objects -----------------------------------------------------

    def _state_of(self, rep: _Replica) -> agent_pb2.ReplicaState:
        return agent_pb2.ReplicaState(
            name=rep.replica.metadata.name,
            deployment=rep.replica.spec.deployment,
            phase=rep.phase,
            endpoint=rep.endpoint if rep.phase == "Running" else "",
            message=rep.message,
            generation=rep.generation,
        )

    def _report(self, rep: _Replica) -> None:
        self._on_state(self._state_of(rep))

    def _set(self, rep: _Replica, phase: str, message: str = "", endpoint: str = "") -> None:
        if (rep.phase, rep.message, rep.endpoint) != (phase, message, endpoint):
            rep.phase, rep.message, rep.endpoint = phase, message, endpoint
            name = rep.replica.metadata.name
            log.info("replica %s: %s%s", name, phase, f" ({message})" if message else "")
            self._report(rep)

    def _template(self, rep: _Replica) -> KubernetesTemplate:
        runtime = rep.replica.spec.model.runtime or "vllm"
        template = self._config.templates.get(runtime)
        if template is None:
            known = ", ".join(sorted(self._config.templates))
            raise LookupError(f"no container template for runtime {runtime!r} (have: {known})")
        return template

    def _objects(self, rep: _Replica) -> tuple[k8s.V1Deployment, k8s.V1Service]:
        return build_objects(
            rep.replica,
            rep.generation,
            self._template(rep),
            namespace=self._config.namespace,
            node=self._node,
            service_type=self._config.service_type,
        )

    async def _apply(self, name: str, deployment: k8s.V1Deployment, service: k8s.V1Service) -> None:
        """Create, or replace what is there (an update); the same call either way."""
        ns = self._config.namespace
        try:
            await asyncio.to_thread(self._apps.create_namespaced_deployment, ns, deployment)
        except ApiException as e:
            if e.status != 409:
                raise
            await asyncio.to_thread(self._apps.replace_namespaced_deployment, name, ns, deployment)
        try:
            await asyncio.to_thread(self._core.create_namespaced_service, ns, service)
        except ApiException as e:
            if e.status != 409:
                raise
            current = await asyncio.to_thread(self._core.read_namespaced_service, name, ns)
            assert service.metadata and service.spec and current.metadata and current.spec
            service.metadata.resource_version = current.metadata.resource_version
            service.spec.cluster_ip = current.spec.cluster_ip  # immutable once set
            await asyncio.to_thread(self._core.replace_namespaced_service, name, ns, service)

    def _endpoint(self, name: str, port: int, service: k8s.V1Service) -> str:
        """The load balancer's address, the advertised host's node port, or the cluster DNS name."""
        status = service.status
        ingress = status.load_balancer.ingress if status and status.load_balancer else None
        if ingress:
            return f"http://{ingress[0].ip or ingress[0].hostname}:{port}"
        ports = service.spec.ports if service.spec else None
        node_port = ports[0].node_port if ports else None
        if self._config.service_type == "NodePort" and self._config.advertise_host and node_port:
            return f"http://{self._config.advertise_host}:{node_port}"
        return f"http://{name}.{self._config.namespace}.svc.cluster.local:{port}"

    async def _keep(self, rep: _Replica, *, create: bool) -> None:
        """Creates or updates the objects, then follows their status until undeployed."""
        ns = self._config.namespace
        while True:
            try:
                deployment, service = self._objects(rep)
                name = object_name(rep.replica.metadata.name)
                if create:
                    await self._apply(name, deployment, service)
                    self._set(rep, "Starting")
                    create = False
                try:
                    current = await asyncio.to_thread(
                        self._apps.read_namespaced_deployment_status, name, ns
                    )
                except ApiException as e:
                    if e.status != 404:
                        raise
                    self._set(rep, "Starting", "its Deployment was deleted; creating it again")
                    create = True
                    continue
                phase, message = phase_of(current)
                endpoint = ""
                if phase == "Running":
                    svc = await asyncio.to_thread(self._core.read_namespaced_service, name, ns)
                    endpoint = self._endpoint(name, self._template(rep).port, svc)
                self._set(rep, phase, message, endpoint)
            except LookupError as e:
                self._set(rep, "Failed", str(e))
                return
            except ApiException as e:
                log.warning("replica %s: Kubernetes API: %s", rep.replica.metadata.name, e.reason)
                self._set(rep, rep.phase, f"Kubernetes API: {e.status} {e.reason}", rep.endpoint)
            except OSError as e:  # the API server is unreachable; the pods run on
                log.warning(
                    "replica %s: Kubernetes API unreachable: %s", rep.replica.metadata.name, e
                )
            await asyncio.sleep(self._config.poll_seconds)

    async def _delete(self, rep: _Replica) -> None:
        ns, name = self._config.namespace, object_name(rep.replica.metadata.name)
        self._set(rep, "Terminating")
        while True:
            try:
                for call in (
                    self._apps.delete_namespaced_deployment,
                    self._core.delete_namespaced_service,
                ):
                    try:
                        await asyncio.to_thread(call, name, ns, propagation_policy="Foreground")
                    except ApiException as e:
                        if e.status != 404:
                            raise
                try:
                    await asyncio.to_thread(self._apps.read_namespaced_deployment, name, ns)
                except ApiException as e:
                    if e.status == 404:
                        break
                    raise
            except (ApiException, OSError) as e:
                log.warning("replica %s: deleting: %s", rep.replica.metadata.name, e)
            await asyncio.sleep(self._config.poll_seconds)
        self._set(rep, "Stopped")
        del self._replicas[rep.replica.metadata.name]


def connect(config: KubernetesRuntimeConfig) -> tuple[k8s.AppsV1Api, k8s.CoreV1Api]:
    """API clients from the kubeconfig file if one is given, else the pod's service account."""
    from kubernetes import config as kube_config

    if config.kubeconfig is not None:
        kube_config.load_kube_config(config_file=str(config.kubeconfig))
    else:
        kube_config.load_incluster_config()
    api: Any = k8s.ApiClient()
    return k8s.AppsV1Api(api), k8s.CoreV1Api(api)

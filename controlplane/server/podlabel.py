"""Marks the leading replica's pod, so that a Kubernetes Service can select it.

With the chart's `routing: podLabel`, every healthy replica is Ready (rolling
updates and PodDisruptionBudgets keep working) and the API Service selects
`tokenplane.io/leader=true`, which the leader sets on its own pod and a replica
clears when it starts or steps down (as Vault's Helm chart does). This speaks
to the API server the in-cluster way: the service-account token and CA
mounted in the pod. The token is sent, never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import urllib.request
from pathlib import Path

from controlplane.resources.wellknown import LEADER_LABEL

log = logging.getLogger(__name__)

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class PodLabeler:
    def __init__(
        self,
        pod: str,
        *,
        api_url: str | None = None,
        token_file: Path | None = None,
        ca_file: Path | None = None,
    ) -> None:
        namespace, sep, name = pod.partition("/")
        if not sep or not namespace or not name:
            raise ValueError(f"--leader-label-pod: expected NAMESPACE/NAME, got {pod!r}")
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        self._url = (
            f"{api_url or f'https://{host}:{port}'}/api/v1/namespaces/{namespace}/pods/{name}"
        )
        self._token_file = token_file or SERVICE_ACCOUNT / "token"
        self._ca_file = ca_file or SERVICE_ACCOUNT / "ca.crt"

    async def set(self, leader: bool) -> None:
        """Sets the label; a failure is logged, not raised: routing lags, leadership holds."""
        try:
            await asyncio.to_thread(self._patch, leader)
        except Exception as e:  # network, RBAC: the operator must see it, the loop goes on
            log.error("could not label the pod %s=%s: %s", LEADER_LABEL, leader, e)

    def _patch(self, leader: bool) -> None:
        body = json.dumps({"metadata": {"labels": {LEADER_LABEL: str(leader).lower()}}})
        request = urllib.request.Request(
            self._url,
            data=body.encode(),
            method="PATCH",
            headers={
                "Content-Type": "application/merge-patch+json",
                "Authorization": f"Bearer {self._token_file.read_text().strip()}",
            },
        )
        # Read on each call, like the token: a missing CA is a logged failure, not a crash.
        context = (
            ssl.create_default_context(cafile=str(self._ca_file))
            if self._url.startswith("https:")
            else None
        )
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            response.read()

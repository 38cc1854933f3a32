"""The leader's pod label, against a fake Kubernetes API server.

No Kubernetes API server can run here, so this one is a fake at the edge of
the world: a loopback HTTP server that records what it is sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from controlplane.server.podlabel import PodLabeler


class FakeKubeApi(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, str, dict]]] = []

    def do_PATCH(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append(
            (self.path, self.headers["Content-Type"], self.headers["Authorization"], body)
        )
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_leader_label_is_a_merge_patch_with_the_service_account_token(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), FakeKubeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token = tmp_path / "token"
    token.write_text("sa-token-123\n")
    try:
        labeler = PodLabeler(
            "tp-system/tokenplane-0",
            api_url=f"http://127.0.0.1:{server.server_port}",
            token_file=token,
        )
        asyncio.run(labeler.set(True))
        asyncio.run(labeler.set(False))
    finally:
        server.shutdown()
    assert FakeKubeApi.received == [
        (
            "/api/v1/namespaces/tp-system/pods/tokenplane-0",
            "application/merge-patch+json",
            "Bearer sa-token-123",
            {"metadata": {"labels": {"tokenplane.io/leader": leader}}},
        )
        for leader in ("true", "false")
    ]


def test_unreachable_api_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = tmp_path / "token"
    token.write_text("secret-token")
    labeler = PodLabeler("ns/pod", api_url="http://127.0.0.1:9", token_file=token)
    asyncio.run(labeler.set(True))
    assert "could not label the pod" in caplog.text and "secret-token" not in caplog.text


def test_bad_pod_reference_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--leader-label-pod: expected NAMESPACE/NAME"):
        PodLabeler("just-a-name")

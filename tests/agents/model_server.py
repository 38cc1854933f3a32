"""Test fixture: a tiny stand-in for a model server (`vllm serve`), as a real process.

    python -m tests.agents.model_server --model NAME --port PORT
        [--startup-seconds S] [--ignore-sigterm] [--exit-after S]

Serves GET /health (503 until the simulated model has loaded, then 200) and
GET /v1/models (the model and this process's pid, so tests can tell one process
from its replacement). Logs one line per start and on SIGTERM, to its stdout,
which the process runtime keeps in the replica's log file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--startup-seconds", type=float, default=0.0)
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument("--exit-after", type=float, default=0.0)
    args = parser.parse_args()
    ready_at = time.monotonic() + args.startup_seconds

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                ok = time.monotonic() >= ready_at
                self._reply(200 if ok else 503, {"ok": ok})
            elif self.path == "/v1/models":
                self._reply(200, {"data": [{"id": args.model}], "pid": os.getpid()})
            else:
                self._reply(404, {"error": "not found"})

        def _reply(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *a: object) -> None:
            return

    server = ThreadingHTTPServer((args.host, args.port), Handler)

    def on_sigterm(signum: int, frame: object) -> None:
        print(f"model server {os.getpid()}: got SIGTERM", flush=True)
        if not args.ignore_sigterm:
            threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    if args.exit_after:
        threading.Timer(args.exit_after, lambda: os._exit(3)).start()
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    print(
        f"model server {os.getpid()}: serving {args.model} on {args.port} gpus={gpus}", flush=True
    )
    server.serve_forever()
    print(f"model server {os.getpid()}: stopped", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()

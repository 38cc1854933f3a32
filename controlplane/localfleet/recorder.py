"""The recorder: samples a local fleet through the Fleet API into STATE_DIR/samples.jsonl.

Started by `tpctl up` as a process of its own, so that a detached fleet is
recorded while nobody watches, and stopped by `tpctl down`. One line per
sample (observe.FleetNow as JSON), every SAMPLE_SIM_S of simulated time, but
never more often than MIN_INTERVAL_S nor less often than MAX_INTERVAL_S of real
time: a fleet on a fast clock is sampled every half second, a real-time one
every ten seconds. A failed sample (the server restarting) is logged and
skipped, never fatal.

    python -m controlplane.localfleet.recorder STATE_DIR
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from controlplane.cli.client import FleetClient
from controlplane.cli.config import Target
from controlplane.cli.errors import CliError
from controlplane.localfleet import run
from controlplane.localfleet.observe import observe
from controlplane.localfleet.run import SAMPLES, RunRecord, load_record

SAMPLE_SIM_S = 600.0
MIN_INTERVAL_S = 0.5
MAX_INTERVAL_S = 10.0
REQUEST_TIMEOUT_S = 10.0

log = logging.getLogger("controlplane.localfleet.recorder")


def interval_s(clock_speed: float) -> float:
    """Real seconds between samples."""
    return min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, SAMPLE_SIM_S / clock_speed))


def local_client(server: str) -> FleetClient:
    """A client for the local fleet's server: loopback, plaintext, no token needed."""
    target = Target(server=server, origin="the local fleet", context=None, token=None, tls=False)
    return FleetClient(target, timeout_s=REQUEST_TIMEOUT_S)


def run_recorder(state_dir: Path, record: RunRecord, stop: threading.Event) -> None:
    client = local_client(record.server)
    clock = run.clock(state_dir)
    every_s = interval_s(clock.clock.speed)
    with open(state_dir / SAMPLES, "a") as out:
        while not stop.is_set():
            started = time.monotonic()
            try:
                sample = observe(client, wall_s=time.time(), sim_s=clock.now_s())
            except CliError as e:
                log.warning("sample skipped: %s", e)
            else:
                out.write(json.dumps(sample.to_json(), separators=(",", ":")) + "\n")
                out.flush()
            stop.wait(max(0.0, every_s - (time.monotonic() - started)))


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    state_dir = Path(sys.argv[1])
    record = load_record(state_dir)
    if record is None:
        sys.exit(f"no local fleet in {state_dir}")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("recording %s into %s", record.server, state_dir / SAMPLES)
    run_recorder(state_dir, record, stop)


if __name__ == "__main__":
    main()

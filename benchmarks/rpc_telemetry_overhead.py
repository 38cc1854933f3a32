"""What a server span and the per-method RPC histogram cost a unary call.

Two grpc.aio servers on loopback serve the same real servicer (grpc.health.v1 Check):
one bare, one with the control plane's interceptors (opentelemetry-instrumentation-grpc)
and the span-derived `rpc_server_call_duration_seconds` histogram, under the global
providers the server installs. A client in this process keeps `--in-flight` calls
open; the figure is calls per second, each variant measured in alternating rounds.

    .venv/bin/python benchmarks/rpc_telemetry_overhead.py --calls 4000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from controlplane.server.telemetry import server_interceptors, setup_telemetry


async def serve(interceptors: list[object]) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server(interceptors=interceptors)  # type: ignore[arg-type]
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def calls_per_s(address: str, calls: int, in_flight: int) -> float:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        await stub.Check(request)  # connected before the clock starts
        remaining = calls

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await stub.Check(request)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return calls / (time.perf_counter() - start)


async def main(calls: int, rounds: int, in_flight: int) -> None:
    setup_telemetry(None)
    bare, bare_address = await serve([])
    traced, traced_address = await serve(server_interceptors())
    figures: dict[str, list[float]] = {"bare": [], "traced": []}
    for _ in range(rounds):
        figures["bare"].append(await calls_per_s(bare_address, calls, in_flight))
        figures["traced"].append(await calls_per_s(traced_address, calls, in_flight))
    await bare.stop(None)
    await traced.stop(None)
    bare_median = statistics.median(figures["bare"])
    traced_median = statistics.median(figures["traced"])
    print(f"unary calls/s, {in_flight} in flight, median of {rounds} rounds of {calls}:")
    print(f"  bare server                 {bare_median:8.0f}")
    print(f"  span + RPC histogram        {traced_median:8.0f}")
    print(f"  ratio traced/bare           {traced_median / bare_median:8.2f}")
    per_call_us = (1 / traced_median - 1 / bare_median) * 1e6
    print(f"  added per call              {per_call_us:8.0f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds, args.in_flight))

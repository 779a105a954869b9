"""`mmgraph serve` under load: throughput and latency of POST /recommend at several
concurrencies, and a run swap in the middle of the busiest one.

The service runs as `mmgraph serve` in its own process (uvicorn, one worker); the client keeps
`concurrency` requests in flight at all times, each for one random user of the run (k = 10),
and checks that every answer is a 200 with items. The client is wrk (C, one thread, a Lua
script draws the users and checks the answers; Debian's ``wrk`` package) when it is on the
PATH, else httpx's async client in this process (Python: it takes a large share of the
cores it shares with the server). A swap to a copy of the run (placed beside it) is requested
half-way through the last level; every request must still succeed.

Usage:
    python bench/serve.py                          # runs/quickstart (make quickstart first)
    python bench/serve.py --run DIR --seconds 60 --concurrency 1 8 32 [--client httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def start_server(run: Path, port: int) -> subprocess.Popen:
    """`mmgraph serve` on ``port``, once /health answers."""
    server = subprocess.Popen([str(Path(sys.executable).parent / "mmgraph"), "-q", "serve",
                               "--run", str(run), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"mmgraph serve did not start: {server.stderr.read()}")


async def load(url: str, users: np.ndarray, concurrency: int, seconds: float,
               swap_to: str | None) -> dict:
    """Keep ``concurrency`` requests in flight for ``seconds``; optionally swap half-way."""
    latencies, errors = [], []
    rng = np.random.default_rng(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    # TCP_NODELAY as curl and browsers set it: httpx writes headers and body separately, and
    # without it each request waits ~40 ms for the server's delayed ACK (Nagle's algorithm).
    transport = httpx.AsyncHTTPTransport(
        limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as client:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < stop:
                body = {"users": [int(rng.choice(users))], "k": 10}
                started = time.perf_counter()
                try:
                    answer = await client.post("/recommend", json=body)
                    ok = answer.status_code == 200 and answer.json()["recommendations"][0][
                        "items"]
                except httpx.HTTPError as exc:
                    ok, answer = False, repr(exc)
                latencies.append(time.perf_counter() - started)
                if not ok:
                    errors.append(str(answer))

        async def swap() -> None:
            await asyncio.sleep(seconds / 2)
            answer = await client.post("/admin/swap", json={"run": swap_to})
            if answer.status_code != 200:
                errors.append(f"swap: {answer.text}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)),
                             *([swap()] if swap_to else []))
        elapsed = time.perf_counter() - started
    milliseconds = np.array(latencies) * 1e3
    return {"requests": len(latencies), "per_second": len(latencies) / elapsed,
            "p50": float(np.percentile(milliseconds, 50)),
            "p99": float(np.percentile(milliseconds, 99)), "errors": errors}


WRK_SCRIPT = """
local users = {%s}
failures, threads = 0, {}  -- global: done() reads each thread's count
function setup(thread) table.insert(threads, thread) end
function request()
  local body = '{"users":[' .. users[math.random(#users)] .. '],"k":10}'
  return wrk.format("POST", "/recommend", {["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"item_id"', 1, true) then
    failures = failures + 1
  end
end
function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("failures") end
  io.write(string.format("RESULT %%d %%d %%f %%f %%d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99),
    failed + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout))
end
"""


def load_wrk(url: str, users: np.ndarray, concurrency: int, seconds: float,
             swap_to: str | None) -> dict:
    """wrk with ``concurrency`` connections on one thread for ``seconds``; optionally a swap
    half-way (from this process)."""
    sample = np.random.default_rng(0).choice(users, min(len(users), 10_000), replace=False)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        literals = (json.dumps(json.dumps(user.item())) for user in sample)  # JSON in Lua strings
        script.write(WRK_SCRIPT % ",".join(literals))
    errors = []

    def swap() -> None:
        time.sleep(seconds / 2)
        answer = httpx.post(f"{url}/admin/swap", json={"run": swap_to}, timeout=60)
        if answer.status_code != 200:
            errors.append(f"swap: {answer.text}")

    swapper = threading.Thread(target=swap) if swap_to else None
    if swapper:
        swapper.start()
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s", "--timeout",
                          "30s", "-s", script.name, url], capture_output=True, text=True,
                         check=True).stdout
    if swapper:
        swapper.join()
    os.unlink(script.name)
    requests, duration, p50, p99, failed = re.search(
        r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) (\d+)", out).groups()
    errors += [f"{failed} failed requests (non-200, no items, or socket errors)"] * (
        int(failed) > 0)
    return {"requests": int(requests), "per_second": int(requests) / (int(duration) / 1e6),
            "p50": float(p50) / 1e3, "p99": float(p99) / 1e3, "errors": errors,
            "failed": int(failed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "quickstart")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--client", choices=["wrk", "httpx"],
                        default="wrk" if shutil.which("wrk") else "httpx")
    args = parser.parse_args()
    run = args.run.resolve()
    swap_copy = run.parent / f"{run.name}-swap"
    shutil.rmtree(swap_copy, ignore_errors=True)
    shutil.copytree(run, swap_copy)
    users = pd.read_parquet(run / "ids" / "users.parquet").iloc[:, 0].to_numpy()
    server = start_server(run, args.port)
    try:
        print(f"{run}, {len(users)} users; {platform.machine()}, {os.cpu_count()} cores "
              f"(client and server share them); client {args.client}; "
              f"{args.seconds:.0f} s per level\n")
        print("| concurrency | requests | requests/s | p50 ms | p99 ms | errors | swap |")
        print("|---|---|---|---|---|---|---|")
        for level in args.concurrency:
            swap = swap_copy.name if level == args.concurrency[-1] else None
            url = f"http://127.0.0.1:{args.port}"
            result = (load_wrk(url, users, level, args.seconds, swap) if args.client == "wrk"
                      else asyncio.run(load(url, users, level, args.seconds, swap)))
            failed = result.get("failed", len(result["errors"]))
            print(f"| {level} | {result['requests']} | {result['per_second']:.0f} | "
                  f"{result['p50']:.1f} | {result['p99']:.1f} | {failed} | "
                  f"{'half-way' if swap else ''} |", flush=True)
            for error in result["errors"][:5]:
                print(f"  error: {error}")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(swap_copy, ignore_errors=True)


if __name__ == "__main__":
    main()

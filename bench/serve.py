"""`mmgraph serve` under load: throughput and latency of POST /recommend at several
concurrencies, and a run swap in the middle of the busiest one.

The service runs as `mmgraph serve` in its own process (uvicorn, one worker); the client keeps
`concurrency` requests in flight at all times, each for one random user of the run (k = 10),
and checks that every answer is a 200 with items. The client is wrk (C, one thread, a Lua
script draws the users and checks the answers; Debian's ``wrk`` package) when it is on the
PATH, else httpx's async client in this process (Python: it takes a large share of the
cores it shares with the server). A swap to a copy of the run (placed beside it) is requested
half-way through the last level; every request must still succeed.

``--soak SECONDS`` runs mixed traffic instead, minute by minute (issue 36's soak): wrk keeps
the last concurrency of requests in flight, drawn from /recommend, /similar,
/recommend_for_history, /update, /explain and /health (``MIXED_SCRIPT``), while this process
adds an item every second, removes the one added ten seconds earlier and swaps between the
run and its copy every ``--swap-every`` seconds; each minute's requests, p50/p99, failures
and the server's RSS form a table, with a plot when ``--plot`` names a PNG. Only 127.0.0.1.

Usage:
    python bench/serve.py                          # runs/quickstart (make quickstart first)
    python bench/serve.py --run DIR --seconds 60 --concurrency 1 8 32 [--client httpx]
    python bench/serve.py --soak 1800 --plot docs/img/soak.png
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


WRK_REPORT = """
failures, threads = 0, {}  -- global: done() reads each thread's count
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("failures") end
  io.write(string.format("RESULT %d %d %f %f %d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99),
    failed + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout))
end
"""

RECOMMEND_SCRIPT = """
function request()
  local body = '{"users":[' .. users[math.random(#users)] .. '],"k":10}'
  return wrk.format("POST", "/recommend", {["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"item_id"', 1, true) then
    failures = failures + 1
  end
end
"""

#: The soak's read/update traffic: a request drawn per call, each answered 200 or counted.
MIXED_SCRIPT = """
local json = {["Content-Type"] = "application/json"}
local function user() return users[math.random(#users)] end
local function item() return items[math.random(#items)] end
function request()
  local draw = math.random()
  if draw < 0.70 then
    return wrk.format("POST", "/recommend", json, '{"users":[' .. user() .. '],"k":10}')
  elseif draw < 0.80 then
    return wrk.format("POST", "/similar", json, '{"item":' .. item() .. ',"k":10}')
  elseif draw < 0.88 then
    return wrk.format("POST", "/recommend_for_history", json,
      '{"items":[' .. item() .. ',' .. item() .. ',' .. item() .. '],"k":10}')
  elseif draw < 0.95 then
    return wrk.format("POST", "/update", json,
      '{"user":' .. user() .. ',"items":[' .. item() .. ',' .. item() .. ']}')
  elseif draw < 0.98 then
    return wrk.format("POST", "/explain", json,
      '{"user":' .. user() .. ',"item":' .. item() .. ',"k":5}')
  end
  return wrk.format("GET", "/health")
end
function response(status, headers, body)
  if status ~= 200 then failures = failures + 1 end
end
"""


def run_wrk(url: str, script: str, ids: dict[str, np.ndarray], concurrency: int,
            seconds: float) -> dict:
    """wrk with ``concurrency`` connections on one thread for ``seconds``, requests from the
    Lua ``script`` (which reads the tables of ``ids``, at most 10,000 of each, as JSON
    literals); its count, rate, p50/p99 (ms) and failed requests."""
    tables = []
    for name, values in ids.items():
        sample = np.random.default_rng(0).choice(values, min(len(values), 10_000),
                                                 replace=False)
        literals = (json.dumps(json.dumps(value.item())) for value in sample)  # JSON in Lua
        tables.append(f"{name} = {{{','.join(literals)}}}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write("\n".join(tables) + WRK_REPORT + script)
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s",
                              "--timeout", "30s", "-s", file.name, url], capture_output=True,
                             text=True, check=True).stdout
    finally:
        os.unlink(file.name)
    requests, duration, p50, p99, failed = re.search(
        r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) (\d+)", out).groups()
    return {"requests": int(requests), "per_second": int(requests) / (int(duration) / 1e6),
            "p50": float(p50) / 1e3, "p99": float(p99) / 1e3, "failed": int(failed)}


def load_wrk(url: str, users: np.ndarray, concurrency: int, seconds: float,
             swap_to: str | None) -> dict:
    """wrk's /recommend load; optionally a swap half-way (from this process)."""
    errors = []

    def swap() -> None:
        time.sleep(seconds / 2)
        answer = httpx.post(f"{url}/admin/swap", json={"run": swap_to}, timeout=60)
        if answer.status_code != 200:
            errors.append(f"swap: {answer.text}")

    swapper = threading.Thread(target=swap) if swap_to else None
    if swapper:
        swapper.start()
    result = run_wrk(url, RECOMMEND_SCRIPT, {"users": users}, concurrency, seconds)
    if swapper:
        swapper.join()
    errors += [f"{result['failed']} failed requests (non-200, no items, or socket "
               f"errors)"] * (result["failed"] > 0)
    return {**result, "errors": errors}


class Admin(threading.Thread):
    """The soak's writes, one at a time from this process: an item added each second (a
    vector near a served one), the one added ten seconds before removed, and a swap between
    the run and its copy every ``swap_every`` seconds (a swapped-in run does not hold the
    items added to the other, so the pending removals start over)."""

    def __init__(self, url: str, names: tuple[str, str], vectors: np.ndarray, first_id: int,
                 swap_every: float) -> None:
        super().__init__(daemon=True)
        self.url, self.names, self.vectors, self.swap_every = url, names, vectors, swap_every
        self.next_id, self.stopping = first_id, threading.Event()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.counts = {"added": 0, "removed": 0, "swaps": 0}

    def _call(self, client: httpx.Client, method: str, path: str, body: dict) -> None:
        started = time.perf_counter()
        answer = client.request(method, path, json=body)
        self.latencies.append(time.perf_counter() - started)
        if answer.status_code != 200:
            self.errors.append(f"{method} {path}: {answer.status_code} {answer.text[:200]}")

    def run(self) -> None:
        rng = np.random.default_rng(1)
        pending: list[int] = []
        swapped_at, serving = time.monotonic(), 0
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self.stopping.wait(1.0):
                if time.monotonic() - swapped_at >= self.swap_every:
                    serving = 1 - serving
                    self._call(client, "POST", "/admin/swap", {"run": self.names[serving]})
                    swapped_at, pending = time.monotonic(), []
                    self.counts["swaps"] += 1
                    continue
                near = self.vectors[rng.integers(len(self.vectors))]
                vector = near + rng.normal(0, 0.1 * np.abs(near).mean(), near.shape)
                self._call(client, "POST", "/items", {"ids": [self.next_id],
                                                      "vectors": [vector.tolist()]})
                pending.append(self.next_id)
                self.next_id += 1
                self.counts["added"] += 1
                if len(pending) > 10:
                    self._call(client, "DELETE", "/items", {"ids": [pending.pop(0)]})
                    self.counts["removed"] += 1

    def minute(self) -> dict:
        """This minute's write count, p99 (ms) and errors; the counters start over."""
        latencies, self.latencies = self.latencies, []
        errors, self.errors = self.errors, []
        counts, self.counts = self.counts, dict.fromkeys(self.counts, 0)
        p99 = float(np.percentile(np.array(latencies) * 1e3, 99)) if latencies else 0.0
        return {**counts, "admin_p99": p99, "admin_errors": errors}


def rss_mib(pid: int) -> float:
    """The resident set of process ``pid`` in MiB (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def soak(url: str, server: subprocess.Popen, run: Path, swap_copy: Path, seconds: float,
         concurrency: int, swap_every: float) -> list[dict]:
    """Mixed traffic for ``seconds``, minute by minute: wrk's reads and user updates at
    ``concurrency`` (MIXED_SCRIPT) beside :class:`Admin`'s adds, removals and swaps; each
    minute's requests, p50/p99, failures and the server's RSS."""
    from mmgraph.io import read_tensors

    ids = {name: pd.read_parquet(run / "ids" / f"{name}.parquet").iloc[:, 0].to_numpy()
           for name in ("users", "items")}
    vectors = read_tensors(run / "student" / "embeddings.safetensors")["items"].numpy()
    admin = Admin(url, (run.name, swap_copy.name), vectors, int(ids["items"].max()) + 1,
                  swap_every)
    admin.start()
    minutes = []
    try:
        for minute in range(1, int(np.ceil(seconds / 60)) + 1):
            result = run_wrk(url, MIXED_SCRIPT, ids, concurrency, 60)
            minutes.append({"minute": minute, **result, **admin.minute(),
                            "rss": rss_mib(server.pid)})
            row = minutes[-1]
            print(f"| {minute} | {row['requests']} | {row['per_second']:.0f} | "
                  f"{row['p50']:.1f} | {row['p99']:.1f} | {row['failed']} | "
                  f"{row['added']} / {row['removed']} / {row['swaps']} | "
                  f"{row['admin_p99']:.0f} | {len(row['admin_errors'])} | "
                  f"{row['rss']:.0f} |", flush=True)
            for error in row["admin_errors"][:3]:
                print(f"  error: {error}")
    finally:
        admin.stopping.set()
        admin.join()
    return minutes


def summarise_soak(minutes: list[dict], warm_up: int, plot: Path | None) -> None:
    """Print RSS growth after the first ``warm_up`` minutes, the worst p99 and the errors;
    draw RSS and p99 by minute into ``plot`` when given."""
    after = [m for m in minutes if m["minute"] >= warm_up]
    base, last = after[0]["rss"], after[-1]["rss"]
    failed = sum(m["failed"] + len(m["admin_errors"]) for m in minutes)
    print(f"\nRSS {minutes[0]['rss']:.0f} MiB after minute 1, {base:.0f} after minute "
          f"{warm_up} (warm-up), {last:.0f} at the end: growth after warm-up "
          f"{100 * (last / base - 1):+.1f}% (peak {max(m['rss'] for m in after):.0f}); p99 "
          f"{min(m['p99'] for m in minutes):.1f}–{max(m['p99'] for m in minutes):.1f} ms; "
          f"{sum(m['requests'] for m in minutes)} requests, "
          f"{sum(m['added'] for m in minutes)} adds, {sum(m['removed'] for m in minutes)} "
          f"removals, {sum(m['swaps'] for m in minutes)} swaps; {failed} failed")
    if plot is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    x = [m["minute"] for m in minutes]
    top.plot(x, [m["rss"] for m in minutes], marker=".")
    top.set_ylabel("server RSS (MiB)")
    bottom.plot(x, [m["p99"] for m in minutes], marker=".", label="p99")
    bottom.plot(x, [m["p50"] for m in minutes], marker=".", label="p50")
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("minute")
    bottom.legend()
    figure.suptitle("mmgraph serve, mixed traffic at concurrency 32 (bench/serve.py --soak)")
    figure.tight_layout()
    figure.savefig(plot, dpi=100)
    print(f"plot: {plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "quickstart")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--client", choices=["wrk", "httpx"],
                        default="wrk" if shutil.which("wrk") else "httpx")
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="instead of the "
                        "levels: mixed traffic (reads, user updates, item adds and removals, "
                        "a swap every --swap-every s) at the last --concurrency for SECONDS, "
                        "minute by minute (needs wrk)")
    parser.add_argument("--swap-every", type=float, default=300)
    parser.add_argument("--warm-up", type=int, default=5, help="soak: RSS growth is measured "
                        "from the end of this minute")
    parser.add_argument("--plot", type=Path, help="soak: RSS and latency by minute, a PNG")
    args = parser.parse_args()
    if args.soak and not 60 <= args.soak <= 4 * 3600:
        parser.error("--soak takes 60 to 14,400 seconds")
    if args.soak and args.client != "wrk":
        parser.error("--soak needs wrk on the PATH (apt-get install wrk)")
    run = args.run.resolve()
    swap_copy = run.parent / f"{run.name}-swap"
    shutil.rmtree(swap_copy, ignore_errors=True)
    shutil.copytree(run, swap_copy)
    users = pd.read_parquet(run / "ids" / "users.parquet").iloc[:, 0].to_numpy()
    server = start_server(run, args.port)
    try:
        url = f"http://127.0.0.1:{args.port}"
        print(f"{run}, {len(users)} users; {platform.machine()}, {os.cpu_count()} cores "
              f"(client and server share them); client {args.client}; "
              + (f"soak of {args.soak:.0f} s at concurrency {args.concurrency[-1]}\n"
                 if args.soak else f"{args.seconds:.0f} s per level\n"))
        if args.soak:
            print("| minute | requests | requests/s | p50 ms | p99 ms | failed | added / "
                  "removed / swaps | writes p99 ms | writes failed | RSS MiB |")
            print("|---|---|---|---|---|---|---|---|---|---|")
            minutes = soak(url, server, run, swap_copy, args.soak, args.concurrency[-1],
                           args.swap_every)
            summarise_soak(minutes, min(args.warm_up, len(minutes)), args.plot)
            return
        print("| concurrency | requests | requests/s | p50 ms | p99 ms | errors | swap |")
        print("|---|---|---|---|---|---|---|")
        for level in args.concurrency:
            swap = swap_copy.name if level == args.concurrency[-1] else None
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

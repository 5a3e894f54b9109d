"""`make bench-hostile`: hostile bodies against every route, on 127.0.0.1 only (issue 22).

Starts `unionqa serve` (admin page and /v1 keys on, so that their routes exist) on a free
loopback port over an index of the bundled corpus, then for --seconds (20) runs

- --clients (50) hostile clients, each sending --body-mb (10) MB bodies, one after the
  other, to the routes below in turn: half declare their Content-Length, half stream
  the body in chunks without one;
- two ordinary users asking questions on POST /api/ask one after the other,

and samples the web process's resident memory (VmRSS) every 0.2 s. Reports the RSS
before, at its peak and after, the hostile requests' answers by status, and the normal
questions answered and failed. Passes when the RSS grows by less than --max-growth-mb
(200) and no normal question failed. Writes reports/bench-hostile.json.

    python scripts/bench_hostile.py [--seconds 20] [--clients 50] [--body-mb 10]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import UNIONQA, free_port, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # loopback only: this script never sends anything elsewhere
TOKEN = "bench-hostile-admin"
KEY = "bench-hostile-key"
ROUTES = [  # every kind of route: the API, /v1, the admin page, the chat's Gradio routes, pages
    ("POST", "/api/ask"), ("POST", "/v1/chat/completions"), ("GET", "/v1/models"), ("POST", "/admin/login"),
    ("POST", "/admin/upload"), ("POST", "/admin/remove"), ("POST", "/admin/logout"),
    ("POST", "/gradio_api/queue/join"), ("POST", "/gradio_api/upload"), ("POST", "/gradio_api/call/chat"),
    ("POST", "/gradio_api/run/predict"), ("POST", "/"), ("GET", "/api/health"), ("GET", "/api/documents"),
    ("POST", "/docs"), ("PUT", "/doc/x"),
]
QUESTIONS = ["试用期最长多久？", "工会会费怎么缴纳？", "劳动合同期限一年的，试用期最长多久？", "职工代表大会的职权有哪些？"]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    """The server's RSS every `interval` seconds, until stopped."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append(rss_mb(self.pid))
            self.done.wait(self.interval)


async def hostile(client: httpx.AsyncClient, n: int, body: bytes, until: float, counts: collections.Counter) -> None:
    chunked = n % 2 == 1
    i = n
    while time.monotonic() < until:
        method, path = ROUTES[i % len(ROUTES)]
        i += 1

        async def chunks():
            view = memoryview(body)
            for start in range(0, len(view), 1 << 20):
                yield bytes(view[start:start + (1 << 20)])

        try:
            response = await client.request(method, path, content=chunks() if chunked else body,
                                            headers={"Content-Type": "application/json"})
            counts[str(response.status_code)] += 1
        except httpx.HTTPError as exc:  # a connection closed on a body beyond what is drained
            counts[type(exc).__name__] += 1


async def normal(client: httpx.AsyncClient, n: int, until: float, results: list[dict]) -> None:
    i = n
    while time.monotonic() < until:
        question = QUESTIONS[i % len(QUESTIONS)]
        i += 1
        started = time.perf_counter()
        try:
            response = await client.post("/api/ask", json={"question": question}, timeout=120)
            ok = response.status_code == 200 and bool(response.json().get("text"))
            results.append({"ok": ok, "status": response.status_code, "s": round(time.perf_counter() - started, 2)})
        except httpx.HTTPError as exc:
            results.append({"ok": False, "status": type(exc).__name__, "s": round(time.perf_counter() - started, 2)})


async def load(base: str, clients: int, body_mb: int, seconds: float) -> tuple[collections.Counter, list[dict]]:
    body = b"x" * (body_mb << 20)
    counts: collections.Counter = collections.Counter()
    results: list[dict] = []
    until = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients + 8, max_keepalive_connections=clients + 8)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as attack, \
            httpx.AsyncClient(base_url=base, timeout=120) as users:
        await asyncio.gather(*(hostile(attack, n, body, until, counts) for n in range(clients)),
                             *(normal(users, n, until, results) for n in range(2)))
    return counts, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--body-mb", type=int, default=10)
    parser.add_argument("--max-growth-mb", type=float, default=200.0)
    parser.add_argument("--index", default=str(ROOT / "reports" / "bench-load-index"),
                        help="index of the bundled corpus to serve (built if missing)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench-hostile.json"))
    args = parser.parse_args()

    index = Path(args.index)
    if not (index / "CURRENT").is_file():
        print(f"building the index of the bundled corpus into {index}", flush=True)
        subprocess.run([UNIONQA, "build", "--quiet", "--index", str(index)], check=True)
    port = free_port()
    base = f"http://{HOST}:{port}/"
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        log = open(Path(tmp) / "serve.log", "w")  # noqa: SIM115
        # --workers 1: the web process answers too, so every byte the load leaves behind is in the one measured
        process = subprocess.Popen(
            [UNIONQA, "serve", "--index", str(index), "--host", HOST, "--port", str(port), "--workers", "1",
             "--feedback-log", str(Path(tmp) / "feedback.jsonl"), "--admin-token", TOKEN, "--api-keys", KEY],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        try:
            wait_for(base + "api/ready", time.perf_counter() + 600, process)
            for question in QUESTIONS:  # warm the answering path: its first allocations are not the load's
                httpx.post(base + "api/ask", json={"question": question}, timeout=120)
            time.sleep(1)
            before = rss_mb(process.pid)
            sampler = Sampler(process.pid)
            sampler.start()
            started = time.perf_counter()
            counts, results = asyncio.run(load(base, args.clients, args.body_mb, args.seconds))
            elapsed = time.perf_counter() - started
            time.sleep(2)  # what is still held once the load is over
            after = rss_mb(process.pid)
            sampler.done.set()
            sampler.join()
            alive = process.poll() is None and httpx.get(base + "api/health", timeout=10).status_code == 200
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
    peak = max(sampler.samples + [after])
    answered = sum(r["ok"] for r in results)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}",
        "clients": args.clients, "body_mb": args.body_mb, "seconds": round(elapsed, 1), "routes": len(ROUTES),
        "rss_mb": {"before": round(before, 1), "peak": round(peak, 1), "after": round(after, 1),
                   "peak_growth": round(peak - before, 1), "growth_after": round(after - before, 1)},
        "hostile_requests": sum(counts.values()), "hostile_answers": dict(sorted(counts.items())),
        "hostile_mb_sent": sum(v for k, v in counts.items() if k.isdigit()) * args.body_mb,
        "normal_questions": {"answered": answered, "failed": len(results) - answered,
                             "slowest_s": max((r["s"] for r in results), default=0.0),
                             "failures": [r for r in results if not r["ok"]][:5]},
        "server_alive_after": alive,
    }
    report["passed"] = (report["rss_mb"]["peak_growth"] < args.max_growth_mb and report["normal_questions"]["failed"] == 0
                        and answered > 0 and alive)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

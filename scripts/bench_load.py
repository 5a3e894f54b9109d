"""`make bench-load`: many users at once, on 127.0.0.1 only.

For --workers 1 and --workers N (default: the machine's default), in one run:
starts `unionqa serve` on a free loopback port over the same index, measures the
cold start (seconds to /api/health and to /api/ready), then

- 1, 50 and 200 concurrent clients on POST /api/ask,
- 50 concurrent clients on the chat's own Gradio endpoint (/chat),
- 50 clients on /api/ask while another process adds documents one by one
  (each add switches CURRENT; the answers must go on, and the new documents
  must be answered from afterwards) -- for N workers only,

and the memory of each process (RSS, PSS) after the load. Writes
reports/bench-load.json and reports/bench-load.md (git-ignored) and prints the
tables. The machine's load average is recorded with every figure: on a shared
machine, compare the ratios of one run, not absolute numbers across runs.

    python scripts/bench_load.py [--seconds 10] [--workers N] [--index DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import LoadResult, run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UNIONQA = str(Path(sys.executable).with_name("unionqa"))
NEW_DOCUMENTS = {
    f"职工书屋开放须知{i}.txt": f"职工书屋第{i}分馆每周{day}开放，借阅证由工会办公室统一办理，每人每次可借图书{i + 2}册。\n"
    for i, day in enumerate(["二", "四", "六"], start=1)
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, deadline: float, process: subprocess.Popen) -> float:
    """Seconds until `url` answers 200 (or raise if the server died or the deadline passed)."""
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready in time")


READY_TOKEN = "bench-load-ready"


class Server:
    def __init__(self, index: Path, workers: int, logs: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        self.log = open(logs / f"serve-workers-{workers}.log", "w")  # noqa: SIM115
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [UNIONQA, "serve", "--index", str(index), "--port", str(self.port), "--workers", str(workers),
             "--feedback-log", str(logs / "feedback.jsonl"), "--admin-token", READY_TOKEN],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        deadline = time.perf_counter() + 600
        wait_for(self.base + "api/health", deadline, self.process)
        self.to_health = time.perf_counter() - started
        wait_for(self.base + "api/ready", deadline, self.process)
        self.to_ready = time.perf_counter() - started

    def ready(self) -> dict:
        # the processes and their memory are shown with the admin token only (ui/health.py)
        return httpx.get(self.base + "api/ready", headers={"Authorization": f"Bearer {READY_TOKEN}"}, timeout=10).json()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def adder(index: Path, folder: Path, pause: float) -> subprocess.Popen:
    """Another process that adds the new documents one at a time (one new version each)."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from index.embedding.embedder import DEFAULT_MODEL, load_embedder\n"
        "from index.paths import default_model_cache\n"
        "from index.store.manifest import IndexSettings\n"
        "from index.update import add_paths\n"
        "embedder = load_embedder(DEFAULT_MODEL, default_model_cache())\n"
        "for path in sorted(Path(sys.argv[2]).iterdir()):\n"
        "    time.sleep(float(sys.argv[3]))\n"
        "    add_paths(Path(sys.argv[1]), [path], IndexSettings(DEFAULT_MODEL, 300, 1), embedder)\n"
        "    print('added', path.name, flush=True)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, str(index), str(folder), str(pause)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)


def during_adds(server: Server, index: Path, work: Path, seconds: float) -> tuple[LoadResult, dict]:
    folder = work / "new-documents"
    folder.mkdir(exist_ok=True)
    for name, text in NEW_DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    documents_before = len(httpx.get(server.base + "api/documents", timeout=10).json())
    version_before = server.ready()["index_version"]
    process = adder(index, folder, pause=2.0)
    import asyncio

    from loadgen import run_load

    async def load_until_added() -> LoadResult:
        results = []
        while process.poll() is None or not results:
            results.append(await run_load(server.base, 50, seconds, "ask", "ask-50-while-adding"))
        merged = results[0]
        for extra in results[1:]:
            merged.ok += extra.ok
            merged.busy += extra.busy
            merged.errors += extra.errors
            merged.error_samples += extra.error_samples
            merged.latencies += extra.latencies
            merged.load_average = (merged.load_average[0], extra.load_average[1])
        return merged.finish(sum(r.seconds for r in results))

    result = asyncio.run(load_until_added())
    added = process.stdout.read().split() if process.stdout else []
    process.wait()
    time.sleep(1.5)  # the servers look at CURRENT at most once a second
    answer = httpx.post(server.base + "api/ask", json={"question": "职工书屋第2分馆哪天开放？"}, timeout=30).json()
    check = {
        "documents_before": documents_before,
        "documents_after": len(httpx.get(server.base + "api/documents", timeout=10).json()),
        "adds": added.count("added"),
        "version_changed": server.ready()["index_version"] != version_before,
        "new_document_cited": any("职工书屋" in c["title"] for c in answer.get("citations", [])),
    }
    return result, check


def bench(workers: int, index: Path, work: Path, seconds: float, with_adds: bool) -> dict:
    server = Server(index, workers, work)
    try:
        report: dict = {"workers": workers, "cold_start_s": {"health": round(server.to_health, 1),
                                                             "ready": round(server.to_ready, 1)},
                        "runs": []}
        run(server.base, 4, 2, "ask")  # warm the HTTP path; not reported
        for clients, kind in ((1, "ask"), (50, "ask"), (200, "ask"), (50, "chat")):
            result = run(server.base, clients, seconds, kind)
            report["runs"].append(result.to_json())
            print(f"  workers={workers} {result.name}: {result.requests_per_s}/s p50 {result.p50_ms} ms "
                  f"p95 {result.p95_ms} ms busy {result.busy} errors {result.errors} load {result.load_average}",
                  flush=True)
        if with_adds:
            result, check = during_adds(server, index, work, seconds)
            report["runs"].append(result.to_json())
            report["during_adds"] = check
            print(f"  workers={workers} {result.name}: {result.requests_per_s}/s errors {result.errors} {check}",
                  flush=True)
        report["processes"] = server.ready()["processes"]
        return report
    finally:
        server.stop()


def table(reports: list[dict]) -> str:
    lines = ["| workers | run | clients | answered/s | p50 ms | p95 ms | max ms | 503 busy | errors | load avg (start→end) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for report in reports:
        for r in report["runs"]:
            lines.append(f"| {report['workers']} | {r['name']} | {r['clients']} | {r['requests_per_s']} | {r['p50_ms']} | "
                         f"{r['p95_ms']} | {r['max_ms']} | {r['busy']} | {r['errors']} | "
                         f"{r['load_average'][0]}→{r['load_average'][1]} |")
    return "\n".join(lines)


def memory_table(reports: list[dict]) -> str:
    lines = ["| workers | process | RSS MB | PSS MB | private MB |", "| --- | --- | --- | --- | --- |"]
    for report in reports:
        for p in report["processes"]:
            lines.append(f"| {report['workers']} | {p['role']} {p['pid']} | {p['rss_mb']} | {p['pss_mb']} | {p['private_mb']} |")
        total = sum(p["pss_mb"] for p in report["processes"])
        lines.append(f"| {report['workers']} | **all (PSS sum)** |  | **{total:.0f}** |  |")
    return "\n".join(lines)


def main() -> int:
    from ui.config import default_workers

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--workers", type=int, default=max(2, default_workers()), help="the multi-process setting")
    parser.add_argument("--index", default=str(ROOT / "reports" / "bench-load-index"),
                        help="index of the bundled corpus to serve (built if missing, copied for the run)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench-load"))
    args = parser.parse_args()

    index = Path(args.index)
    if not (index / "CURRENT").is_file():
        print(f"building the index of the bundled corpus into {index}", flush=True)
        subprocess.run([UNIONQA, "build", "--quiet", "--index", str(index)], check=True)
    reports = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        for workers in (1, args.workers):
            copy = work / f"index-{workers}"
            shutil.copytree(index, copy)  # the adds change the copy, never the kept index
            print(f"--workers {workers}", flush=True)
            reports.append(bench(workers, copy, work, args.seconds, with_adds=workers > 1))
    one, many = (next(r for r in rep["runs"] if r["name"] == "ask-50") for rep in reports)
    ratio = round(many["requests_per_s"] / one["requests_per_s"], 2) if one["requests_per_s"] else 0.0
    summary = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        "seconds_per_run": args.seconds,
        "throughput_ratio_50_clients": ratio,
        "reports": reports,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    cold = ", ".join(f"--workers {r['workers']}: healthy {r['cold_start_s']['health']} s, ready "
                     f"{r['cold_start_s']['ready']} s" for r in reports)
    adds = reports[-1].get("during_adds", {})
    text = (
        f"Load test ({summary['date']}, {summary['machine']}, {args.seconds:.0f} s per run, 127.0.0.1)\n\n"
        f"{table(reports)}\n\n"
        f"Throughput with 50 clients, --workers {args.workers} against --workers 1: **{ratio}×**.\n\n"
        f"While adding documents: {json.dumps(adds, ensure_ascii=False)}\n\n"
        f"Cold start (index already built): {cold}.\n\n"
        f"Memory after the load:\n\n{memory_table(reports)}\n"
    )
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

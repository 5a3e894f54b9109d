"""Cold start of `unionqa serve` with an index already built: seconds to /api/health and /api/ready.

Builds an index of the bundled corpus once (into a temporary folder, with this code), then starts
`unionqa serve` on it --runs times per code version and per --workers value, on a free port of
127.0.0.1, and polls /api/health and /api/ready every 50 ms from the moment the process is started
until both answer 200 (/api/health says the server is up, /api/ready that it can answer at once).
With --baseline REF (a git ref, for example main's commit), that version's code, taken out of git
into a temporary folder and run with the same .venv, is started in turn with this one, run by run,
so that both share the machine's load; the medians are compared as a ratio.

    .venv/bin/python scripts/bench_coldstart.py --runs 3 --workers 1,2 --baseline main

Writes reports/bench-coldstart.json and prints a Markdown table with the load average of each run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import free_port  # noqa: E402

POLL = 0.05  # seconds between polls
TIMEOUT = 300.0  # seconds before a start counts as failed


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return 0


def checkout(ref: str, into: Path) -> Path:
    """The code of git ref `ref`, written into `into` (nothing in this worktree changes)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def command(code: Path, *args: str) -> list[str]:
    """`unionqa ARGS` run from the code folder `code` with this interpreter (the same .venv)."""
    run = f"import sys; sys.path.insert(0, {str(code)!r}); from ui.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", run, *args]


def environment(home: Path) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", UNIONQA_FEEDBACK_LOG=str(home / "fb.jsonl"))
    env.pop("PYTHONPATH", None)
    return env


def start_once(code: Path, index: Path, workers: int, home: Path) -> dict:
    """One `unionqa serve`: seconds from the process start to the first 200 of each endpoint."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/"
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(
        command(code, "serve", "--index", str(index), "--port", str(port), "--workers", str(workers)),
        env=environment(home), cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    seen: dict[str, float] = {}
    try:
        while len(seen) < 2:
            elapsed = time.perf_counter() - started
            if proc.poll() is not None or elapsed > TIMEOUT:
                error = proc.stderr.read().decode(errors="replace")[-800:] if proc.poll() is not None else "timeout"
                return {"failed": error, "load_start": round(load, 2)}
            for name in ("health", "ready"):
                if name not in seen and status(base + name) == 200:
                    seen[name] = round(time.perf_counter() - started, 2)
            time.sleep(POLL)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the answering processes it forked
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return {"health_s": seen["health"], "ready_s": seen["ready"], "load_start": round(load, 2),
            "load_end": round(os.getloadavg()[0], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", default="1", help="comma-separated --workers values")
    parser.add_argument("--baseline", default="", help="a git ref whose code is started in turn with this one")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-coldstart.json")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",") if w.strip()]

    with tempfile.TemporaryDirectory(prefix="unionqa-coldstart-") as tmp:
        home = Path(tmp)
        index = home / "index"
        subprocess.run(command(ROOT, "build", "--index", str(index), "--quiet"), env=environment(home), cwd=ROOT,
                       check=True)
        versions = {"this": ROOT}
        if args.baseline:
            versions[f"baseline {args.baseline}"] = checkout(args.baseline, home / "baseline")
        runs: list[dict] = []
        for run in range(args.runs):
            for count in workers:
                for name, code in versions.items():
                    result = {"code": name, "workers": count, "run": run + 1, **start_once(code, index, count, home)}
                    print(json.dumps(result, ensure_ascii=False), file=sys.stderr, flush=True)
                    runs.append(result)

    lines = ["| code | workers | run | to /api/health s | to /api/ready s | load avg (start→end) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        lines.append(f"| {r['code']} | {r['workers']} | {r['run']} | {r.get('health_s', 'failed')} | "
                     f"{r.get('ready_s', 'failed')} | {r['load_start']}→{r.get('load_end', '')} |")
    summary = []
    for count in workers:
        medians = {}
        for name in versions:
            ready = [r["ready_s"] for r in runs if r["code"] == name and r["workers"] == count and "ready_s" in r]
            if ready:
                medians[name] = round(statistics.median(ready), 2)
        row = {"workers": count, **{f"median ready s ({k})": v for k, v in medians.items()}}
        if len(medians) == 2 and medians["this"]:
            row["baseline / this"] = round(medians[next(k for k in medians if k != "this")] / medians["this"], 2)
        summary.append(row)
    lines += ["", *(json.dumps(s, ensure_ascii=False) for s in summary)]
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs, "summary": summary}, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fault injection for issue 23: no uploaded document is lost, and the server answers from
the newest complete index version, whatever breaks.

Everything runs on 127.0.0.1, with `unionqa serve` as a real process, in a temporary folder
(or --work), in bounded loops:

1. Set-up: an index of a two-document corpus, then two uploads on the admin page
   (uploaded-a.txt, uploaded-b.txt): the live version holds both, the one before only a.
2. Each file of the live version in turn cut to half its size (an empty file gets bytes
   instead), and CURRENT made garbage, empty, missing, or naming a deleted folder: the
   server is started on a copy, and must start, keep both uploads, answer a question
   about uploaded-a from it, and load the version that `index.store.versions.choose` (checksums
   verified) names as the newest complete one; for a damaged live version that is the
   one before.
3. `--kills` times (default 20): an upload on the admin page, and `kill -9` of the server
   during it (alternately at a random moment and the moment CURRENT changes, which is
   the narrowest window: indexed, not yet moved out of staging); then a restart. After
   each restart every acknowledged upload, and every upload whose document the index
   holds, must have its file in uploads/, and the server must answer from the newest
   complete version, without a warning.

    .venv/bin/python scripts/fault_injection.py [--kills 20] [--phases damage,kills] [--out reports/fault_injection.json]

Prints one line per case and a summary; exits 1 if anything was lost or wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from index.store.versions import CURRENT_FILE, choose, current_name, version_folders  # noqa: E402

UNIONQA = str(Path(sys.executable).with_name("unionqa"))
TOKEN = "故障注入口令"
AUTH = {"Authorization": f"Bearer {TOKEN}".encode()}
CORPUS = {
    "会费.txt": "工会会费\n会员按月缴纳会费，标准为本人工资收入的千分之五。会费用于会员活动。",
    "疗休养.txt": "职工疗休养\n工会每年组织一线职工疗休养，名额向劳模和技术工人倾斜。疗休养时间一般为五天。",
}
A = "职工书屋\n工会职工书屋每周二、周四晚上开放，每人可借阅图书两本。"
B = "爱心驿站\n爱心驿站为户外劳动者提供热水、休息座椅和手机充电。"
QUESTION_A = "职工书屋什么时候开放？"
READY_SECONDS = 300  # a loaded 2-core machine: the model load alone can take a minute


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`unionqa serve` on 127.0.0.1, one answering process, until stopped or killed."""

    def __init__(self, index: Path, logs: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        self.log = logs / f"serve-{self.port}.log"
        started = time.perf_counter()
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [UNIONQA, "serve", "--index", str(index), "--port", str(self.port), "--host", "127.0.0.1",
                 "--workers", "1", "--admin-token", TOKEN, "--feedback-log", str(logs / "feedback.jsonl")],
                stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
            )
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"服务退出（{self.process.returncode}）：{self.log.read_text()[-800:]}")
            try:
                if httpx.get(self.base + "api/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("服务未能就绪")
            time.sleep(0.1)
        self.ready_seconds = time.perf_counter() - started

    def details(self) -> dict:
        return httpx.get(self.base + "api/ready", headers=AUTH, timeout=30).json()

    def documents(self) -> set[str]:
        return {d["id"] for d in httpx.get(self.base + "api/documents", timeout=30).json()}

    def ask(self, question: str) -> dict:
        return httpx.post(self.base + "api/ask", json={"question": question}, timeout=60).json()

    def upload(self, name: str, text: str, timeout: float = 300) -> httpx.Response:
        return httpx.post(self.base + "admin/upload", headers=AUTH, timeout=timeout,
                          files=[("files", (name, text.encode("utf-8"), "text/plain"))])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()


def newest_complete(index: Path) -> str:
    choice = choose(index)  # every checksum verified, independently of the server
    return choice.folder.name if choice else ""


# ----- set-up ------------------------------------------------------------------------------------


def set_up(work: Path) -> tuple[Path, float]:
    """The base index, and how long an upload took (the random kills fall within it)."""
    corpus = work / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    index = work / "base-index"
    subprocess.run([UNIONQA, "build", "--corpus", str(corpus), "--index", str(index), "--quiet"], check=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True)
    server = Server(index, work)
    took = []
    try:
        for name, text in (("uploaded-a.txt", A), ("uploaded-b.txt", B)):
            started = time.perf_counter()
            response = server.upload(name, text)
            took.append(time.perf_counter() - started)
            assert response.status_code == 200 and "已加入" in response.text, response.text[-500:]
    finally:
        server.stop()
    return index, min(took)


# ----- 2: each file of the live version damaged --------------------------------------------------


def damage(index: Path, case: str) -> None:
    live = index / current_name(index)
    if case == "CURRENT garbage":
        (index / CURRENT_FILE).write_bytes(b"\xff\xfe\x00 garbage")
    elif case == "CURRENT empty":
        (index / CURRENT_FILE).write_text("", encoding="utf-8")
    elif case == "CURRENT missing":
        (index / CURRENT_FILE).unlink()
    elif case == "live folder deleted":
        shutil.rmtree(live)
    else:
        path = live / case
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if data else b"\x00garbage")


def damaged_versions(base: Path, work: Path) -> list[dict]:
    live = base / current_name(base)
    [previous] = [p.name for p in version_folders(base) if p != live]
    files = sorted(p.relative_to(live).as_posix() for p in live.rglob("*") if p.is_file())
    cases = [*files, "CURRENT garbage", "CURRENT empty", "CURRENT missing", "live folder deleted"]
    rows = []
    for case in cases:
        index = work / "case-index"
        shutil.rmtree(index, ignore_errors=True)
        shutil.copytree(base, index)
        damage(index, case)
        expected = newest_complete(index)
        row = {"case": case, "expected": expected, "previous": expected == previous}
        try:
            server = Server(index, work)
        except RuntimeError as exc:
            row.update(ok=False, error=str(exc))
            rows.append(row)
            print(f"  {case:32} 服务未能启动：{exc}", flush=True)
            continue
        try:
            details = server.details()
            answer = server.ask(QUESTION_A)
            uploads = sorted(p.name for p in (index / "uploads").iterdir() if p.is_file())
            row.update(
                loaded=details["index_version"], warning=details["index_warning"], ready_s=round(server.ready_seconds, 1),
                uploads=uploads, answered_from=[c["doc_id"] for c in answer.get("citations", [])][:1],
            )
            row["ok"] = (row["loaded"] == expected and uploads == ["uploaded-a.txt", "uploaded-b.txt"]
                         and row["answered_from"] == ["added/uploaded-a"] and bool(row["warning"]))
        finally:
            server.stop()
        rows.append(row)
        print(f"  {case:32} {'通过' if row['ok'] else '失败'}：载入 {row.get('loaded')}"
              f"{'（此前的版本）' if row['previous'] else ''}，上传文件 {len(row.get('uploads', []))} 个，"
              f"{row.get('ready_s')} 秒就绪", flush=True)
    return rows


# ----- 3: kill -9 during uploads ------------------------------------------------------------------


def kills_during_upload(base: Path, work: Path, kills: int, seed: int, upload_seconds: float) -> list[dict]:
    rng = random.Random(seed)
    index = work / "kill-index"
    shutil.copytree(base, index)
    acknowledged: dict[str, str] = {"uploaded-a.txt": A, "uploaded-b.txt": B}
    rows = []
    server = Server(index, work)
    try:
        for i in range(kills):
            name = f"uploaded-k{i:02d}.txt"
            text = f"第{i}期读书会\n工会第{i}期读书会在{i + 1}号会议室举行，主题是劳模精神第{i}讲。"
            result: dict = {}

            def send(target: Server = server, name: str = name, text: str = text, result: dict = result) -> None:
                try:
                    response = target.upload(name, text, timeout=120)
                    result["acknowledged"] = response.status_code == 200 and "已加入" in response.text
                except httpx.HTTPError:
                    result["acknowledged"] = False

            before = current_name(index)
            mode = "CURRENT 切换时" if i % 2 == 0 else "随机时刻"
            thread = threading.Thread(target=send, daemon=True)
            thread.start()
            if i % 2 == 0:
                deadline = time.monotonic() + 60
                while current_name(index) == before and time.monotonic() < deadline and thread.is_alive():
                    time.sleep(0.001)
            else:
                time.sleep(rng.uniform(0.0, upload_seconds))  # somewhere inside the upload
            server.kill9()
            thread.join(timeout=30)
            if result.get("acknowledged"):
                acknowledged[name] = text
            server = Server(index, work)
            details = server.details()
            documents = server.documents()
            uploads = {p.name: p.read_text(encoding="utf-8") for p in (index / "uploads").iterdir() if p.is_file()}
            indexed = "added/" + name.removesuffix(".txt") in documents
            lost = [n for n, t in acknowledged.items() if uploads.get(n) != t]
            if indexed and uploads.get(name) != text:
                lost.append(name)
            if indexed:
                acknowledged[name] = text  # from here on it must stay
            expected = newest_complete(index)
            # the restart moved an indexed upload out of the staging folder the kill left it in
            recovered = '"event": "uploads_recovered"' in server.log.read_text(encoding="utf-8", errors="replace")
            row = {"kill": i + 1, "when": mode, "acknowledged": bool(result.get("acknowledged")), "indexed": indexed,
                   "recovered_from_staging": recovered,
                   "lost": lost, "loaded": details["index_version"], "expected": expected,
                   "warning": details["index_warning"], "ready_s": round(server.ready_seconds, 1),
                   "leftover_tmp": sorted(p.name for p in index.iterdir() if p.name.startswith(".tmp-"))}
            row["ok"] = not lost and row["loaded"] == expected and not row["warning"]
            rows.append(row)
            print(f"  kill -9 #{i + 1:2}（{mode}）：{'通过' if row['ok'] else '失败'}，"
                  f"{'已确认' if row['acknowledged'] else '未确认'}，{'已入索引' if indexed else '未入索引'}，"
                  f"{'从暂存区恢复，' if recovered else ''}"
                  f"丢失 {len(lost)}，载入 {row['loaded']}，{row['ready_s']} 秒就绪", flush=True)
    finally:
        server.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one, removed after)")
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    parser.add_argument("--phases", default="damage,kills", help="which to run: damage, kills or both")
    args = parser.parse_args()
    args.kills = max(0, min(args.kills, 100))  # bounded
    work = args.work or Path(tempfile.mkdtemp(prefix="unionqa-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        print("准备：建立索引并上传两个文档…", flush=True)
        base, upload_seconds = set_up(work)
        print(f"  一次上传用时 {upload_seconds:.2f} 秒", flush=True)
        damaged, killed = [], []
        if "damage" in args.phases:
            print("每个文件损坏一次：", flush=True)
            damaged = damaged_versions(base, work)
        if "kills" in args.phases:
            print(f"上传中 kill -9 {args.kills} 次：", flush=True)
            killed = kills_during_upload(base, work, args.kills, args.seed, upload_seconds)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    lost = sum(len(r["lost"]) for r in killed)
    summary = {
        "damaged_cases": len(damaged), "damaged_ok": sum(r.get("ok", False) for r in damaged),
        "kills": len(killed), "kills_ok": sum(r["ok"] for r in killed), "uploads_lost": lost,
        "kills_acknowledged": sum(r["acknowledged"] for r in killed),
        "kills_indexed": sum(r["indexed"] for r in killed),
        "kills_recovered_from_staging": sum(r["recovered_from_staging"] for r in killed),
        "kill_ready_seconds_median": sorted(r["ready_s"] for r in killed)[len(killed) // 2] if killed else None,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"summary": summary, "damaged": damaged, "kills": killed},
                                       ensure_ascii=False, indent=1), encoding="utf-8")
    ok = summary["damaged_ok"] == summary["damaged_cases"] and summary["kills_ok"] == summary["kills"] and not lost
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

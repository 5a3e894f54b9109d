"""A bounded load generator for a running unionqa server: N concurrent clients
(asyncio + httpx), each asking the next question as soon as it has its answer,
for a fixed time. Used by `make bench-load` (scripts/bench_load.py) and by the
load smoke test (tests/test_workers.py).

Outcomes per request: `ok` (200), `busy` (503 with a Retry-After header: the
server's answer to overload, after which the client waits that long, as a polite
client does) and `errors` (anything else: another status, a 503 without
Retry-After, a timeout, a dropped connection).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import asdict, dataclass, field

import httpx
import numpy as np

QUESTIONS = [
    "试用期最长多久？",
    "工会的基本职责是什么？",
    "劳模精神的内涵是什么？",
    "用人单位拖欠工资怎么办？",
    "女职工产假有多少天？",
    "职工累计工作满十年，年休假几天？",
    "劳动合同应当具备哪些条款？",
    "工匠精神是什么？",
    "加班费怎么计算？",
    "工会经费从哪里来？",
    "今天天气怎么样？",
    "什么情况下可以解除劳动合同？",
    "怀孕女职工可以加班吗？",
    "工会会员有哪些权利？",
    "经济补偿按什么标准支付？",
    "劳动者每日工作时间不超过多少小时？",
]
REQUEST_TIMEOUT = 60.0  # seconds: a request slower than this counts as an error (a hang)


@dataclass
class LoadResult:
    name: str
    clients: int
    seconds: float = 0.0
    ok: int = 0
    busy: int = 0
    errors: int = 0
    requests_per_s: float = 0.0  # answered (200) per second
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    load_average: tuple[float, float] = (0.0, 0.0)  # 1-minute load at start and end
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list, repr=False)

    def finish(self, seconds: float) -> LoadResult:
        self.seconds = round(seconds, 2)
        self.requests_per_s = round(self.ok / seconds, 1) if seconds else 0.0
        if self.latencies:
            values = np.asarray(self.latencies) * 1000
            self.p50_ms = round(float(np.percentile(values, 50)), 1)
            self.p95_ms = round(float(np.percentile(values, 95)), 1)
            self.max_ms = round(float(values.max()), 1)
        return self

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("latencies")
        return data

    def note_error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(text[:200])


async def _ask(client: httpx.AsyncClient, base: str, question: str, result: LoadResult) -> float:
    """One question to POST /api/ask; returns how long to wait before the next (Retry-After)."""
    started = time.perf_counter()
    response = await client.post(f"{base}api/ask", json={"question": question, "history": []})
    elapsed = time.perf_counter() - started
    if response.status_code == 200 and "text" in response.json():
        result.ok += 1
        result.latencies.append(elapsed)
    elif response.status_code == 503 and response.headers.get("retry-after", "").isdigit():
        result.busy += 1
        return float(response.headers["retry-after"])
    else:
        result.note_error(f"{response.status_code} {response.text}")
    return 0.0


async def _chat(client: httpx.AsyncClient, base: str, question: str, result: LoadResult) -> float:
    """One question to the chat's own Gradio endpoint (`/chat`), the way its REST clients call it:
    POST gradio_api/call/chat, then read the event stream until `complete`."""
    started = time.perf_counter()
    joined = await client.post(f"{base}gradio_api/call/chat", json={"data": [question]})
    if joined.status_code == 503 and joined.headers.get("retry-after", "").isdigit():  # the chat's queue is full
        result.busy += 1
        return float(joined.headers["retry-after"])
    if joined.status_code != 200:
        result.note_error(f"join {joined.status_code} {joined.text}")
        return 0.0
    event_id = joined.json()["event_id"]
    event, data = "", ""
    async with client.stream("GET", f"{base}gradio_api/call/chat/{event_id}") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
                if event in ("complete", "error"):
                    break
    elapsed = time.perf_counter() - started
    if event == "complete" and "uq-answer" in data and "uq-error" not in data:
        result.ok += 1
        result.latencies.append(elapsed)
    elif event == "error" and "queue" in data.lower():  # Gradio's bounded queue is full
        result.busy += 1
        return 1.0
    else:
        result.note_error(f"{event} {data}")
    return 0.0


async def _client(client: httpx.AsyncClient, base: str, kind: str, number: int, stop_at: float,
                  result: LoadResult) -> None:
    call = _ask if kind == "ask" else _chat
    turn = number
    while time.perf_counter() < stop_at:
        question = QUESTIONS[turn % len(QUESTIONS)]
        turn += 1
        try:
            wait = await call(client, base, question, result)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            result.note_error(f"{type(exc).__name__}: {exc}")
            wait = 0.0
        if wait:
            await asyncio.sleep(min(wait, max(0.0, stop_at - time.perf_counter())))


async def run_load(base: str, clients: int, seconds: float, kind: str = "ask", name: str = "") -> LoadResult:
    """`clients` concurrent clients asking for `seconds` against the server at `base` ("http://host:port/")."""
    result = LoadResult(name=name or f"{kind}-{clients}", clients=clients)
    # One client object with a connection per simulated user (the chat's clients hold two: the
    # request and the event stream), made before the clock starts: making 200 of them is slow.
    limits = httpx.Limits(max_connections=2 * clients, max_keepalive_connections=2 * clients)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits) as client:
        load_start = os.getloadavg()[0]
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(_client(client, base, kind, i, stop_at, result) for i in range(clients)))
    # requests still in flight at stop_at finish (bounded by REQUEST_TIMEOUT) and are counted
    result.load_average = (round(load_start, 2), round(os.getloadavg()[0], 2))
    return result.finish(time.perf_counter() - started)


def run(base: str, clients: int, seconds: float, kind: str = "ask", name: str = "") -> LoadResult:
    return asyncio.run(run_load(base, clients, seconds, kind, name))


if __name__ == "__main__":
    import sys

    url, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    kind = sys.argv[4] if len(sys.argv) > 4 else "ask"
    print(json.dumps(run(url, n, secs, kind).to_json(), ensure_ascii=False, indent=1))

"""Readiness for load balancers and systemd: GET /api/ready.

`/api/health` (ui/api.py) says the server is up; `/api/ready` says it can answer at
once: the index is loaded, the model has answered a first question in every
answering process, and none of them is gone. 200 when ready, 503 otherwise.

Anybody may ask, so the answer is only the status, and, when the server answers from
an older index version because the live one is broken, a warning that says so. The
details (the index version, the process ids and memory of every process, RSS and PSS
from /proc/<pid>/smaps_rollup, what exactly is broken) are for the admin token
(`Authorization: Bearer <token>`): they tell an attacker what runs where.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ui.asking import Asker
from ui.auth import bearer_token, token_matches
from ui.sessions import LoginThrottle, client_address
from ui.workers import process_memory

PUBLIC_WARNING = "索引的当前版本不可用，正在使用此前的完整版本回答；详情请管理员查看日志或带口令访问本接口。"


def readiness_router(asker: Asker, admin_token: str = "", throttle: LoginThrottle | None = None) -> APIRouter:
    """`throttle` is the admin page's: a wrong token here counts as a wrong try there, so
    this route is no way round the admin page's back-off."""
    router = APIRouter(prefix="/api", tags=["api"])
    throttle = throttle or LoginThrottle()

    @router.get(
        "/ready",
        summary="是否可以立即回答问题",
        description="索引已载入、模型已预热、所有回答进程都在时返回 200，否则返回 503。"
        "索引当前版本损坏、改用此前版本时附 `warning`。带管理口令（Authorization: Bearer）时另附索引版本与各进程内存（MB）。",
        responses={503: {"description": "尚未就绪（正在启动，或有回答进程正在重启）"}},
    )
    def ready(request: Request) -> JSONResponse:
        status = asker.readiness()
        code = 200 if status["ready"] else 503
        public = {"status": "ready" if status["ready"] else "starting", "ready": status["ready"]}
        if status.get("index_warning"):
            public["warning"] = PUBLIC_WARNING
        given = bearer_token(request)
        if given is None or not admin_token:
            return JSONResponse(public, status_code=code, headers={"Cache-Control": "no-store"})
        right, wait = throttle.check(client_address(request), lambda: token_matches(given, admin_token))
        if not right:
            detail = f"口令错误次数过多，请 {wait} 秒后再试。" if wait else "口令不正确。"
            return JSONResponse({"detail": detail}, status_code=429 if wait else 403,
                                headers={"Retry-After": str(wait)} if wait else None)
        status.update(public, processes=process_memory(asker))
        return JSONResponse(status, status_code=code, headers={"Cache-Control": "no-store"})

    return router

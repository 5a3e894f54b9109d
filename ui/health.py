"""Readiness for load balancers and systemd: GET /api/ready.

`/api/health` (ui/api.py) says the server is up; `/api/ready` says it can answer at
once: the index is loaded, the model has answered a first question in every
answering process, and none of them is gone. 200 when ready, 503 otherwise, with
the memory of each process (RSS and PSS from /proc/<pid>/smaps_rollup).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ui.asking import Asker
from ui.workers import process_memory


def readiness_router(asker: Asker) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["api"])

    @router.get(
        "/ready",
        summary="是否可以立即回答问题",
        description="索引已载入、模型已预热、所有回答进程都在时返回 200，否则返回 503；附各进程内存（MB）。",
        responses={503: {"description": "尚未就绪（正在启动，或有回答进程正在重启）"}},
    )
    def ready() -> JSONResponse:
        status = asker.readiness()
        status["status"] = "ready" if status["ready"] else "starting"
        status["processes"] = process_memory(asker)
        return JSONResponse(status, status_code=200 if status["ready"] else 503)

    return router

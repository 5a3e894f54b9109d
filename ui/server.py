"""The web server: the Gradio chat at `/`, the REST API at `/api`, the document
view at `/doc/…`, `embed.js` for portals, offline API docs at `/docs`, and the
admin page at `/admin` (only with an admin token).

`create_app` builds it (tests run it with uvicorn on a free port); `serve` runs it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# Before gradio is imported: the office server is offline, and nothing should try to phone home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.middleware.cors import CORSMiddleware  # noqa: E402
from fastapi_offline import FastAPIOffline  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from bot.bot import Bot  # noqa: E402
from ui.admin import admin_router  # noqa: E402
from ui.api import api_router  # noqa: E402
from ui.asking import Asker  # noqa: E402
from ui.chat import build_chat, page_css, page_js, theme  # noqa: E402
from ui.config import Config  # noqa: E402
from ui.feedback import FeedbackLog  # noqa: E402
from ui.headers import FrameAncestorsMiddleware, check_origins, frame_ancestors  # noqa: E402
from ui.limits import (  # noqa: E402
    BodyLimitMiddleware,
    MethodMiddleware,
    declare_question_limits,
    http_error,
    validation_error,
)
from ui.openai_api import openai_router  # noqa: E402
from ui.pages import pages_router  # noqa: E402

API_DESCRIPTION = """工会知识问答的 REST 接口。答案摘自知识库文档原文，并给出引用位置。

- `POST /api/ask`：提问，请求体 `{"question": "…", "history": [["上一个问题", "上一个回答"], …]}`
- `GET /api/documents`：文档列表；`GET /api/documents/{id}`：文档全文与段落位置
- `GET /api/health`：服务状态
- `POST /v1/chat/completions`、`GET /v1/models`：OpenAI 兼容接口，模型名 `unionqa`
"""
def create_app(config: Config, bot: Bot, watch_index: bool = False) -> FastAPI:
    """The app answering with `bot`. With `watch_index` (what `serve` does) or an
    admin token, a new version of the index in `config.index_dir` replaces the bot
    without a restart; tests that serve a bot loaded from elsewhere leave it off."""
    origins = check_origins(config.allowed_origins)
    policy = frame_ancestors(origins)
    # FastAPIOffline serves Swagger UI from files in the package, not from a CDN.
    # No ReDoc: its page still loads a logo from the internet.
    app = FastAPIOffline(
        redoc_url=None,
        title="工会知识问答 API",
        description=API_DESCRIPTION,
        version="0.1.0",
        static_url="/api-docs-static",
        swagger_ui_parameters={"validatorUrl": None},
    )
    # Gradio leaves CORS to the parent app when it has a CORSMiddleware, so this one policy covers everything.
    app.add_middleware(
        CORSMiddleware, allow_origins=list(origins), allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Authorization"]
    )
    app.add_middleware(FrameAncestorsMiddleware, policy=policy)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(MethodMiddleware)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)

    watched = config.index_dir if watch_index or config.admin_token else None
    asker = Asker(bot, config.max_question_chars, index_dir=watched)
    # Our routes first: the chat is mounted at "/" and would otherwise take every path.
    app.include_router(api_router(asker))
    app.include_router(openai_router(asker, config))  # /v1: the bot as an OpenAI-compatible model
    declare_question_limits(app, config.max_question_chars)
    app.include_router(pages_router(asker, policy))
    app.include_router(admin_router(asker, config))  # every /admin path is a 404 without a token
    gr.mount_gradio_app(
        app,
        build_chat(asker, FeedbackLog(config.feedback_log)),
        path="/",
        server_name=config.host,
        server_port=config.port,
        theme=theme(),
        css=page_css(),
        js=page_js(),
        footer_links=[],
        run_history=False,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
    )
    return app


def serve(config: Config, bot: Bot) -> None:
    """Run the server until interrupted."""
    app = create_app(config, bot, watch_index=True)
    print(f"工会知识问答已启动：http://{config.host}:{config.port}/  （接口文档：/docs）", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket; port 0 picks a free port, so its address is known before the app is built."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextmanager
def running(app: FastAPI, sock: socket.socket, timeout: float = 60) -> Iterator[str]:
    """Serve `app` on `sock` in a background thread (for tests and scripts); yields the base URL."""
    # Open chat streams would otherwise hold the shutdown for as long as a browser keeps them.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("服务未能启动")
        time.sleep(0.05)
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()

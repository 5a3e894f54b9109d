"""The web server: the Gradio chat at `/`, the REST API at `/api`, the document
view at `/doc/…`, `embed.js` for portals, offline API docs at `/docs`, and the
admin page at `/admin` (only with an admin token).

`create_app` builds it (tests run it with uvicorn on a free port); `serve` runs it.
"""

from __future__ import annotations

import logging
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
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware  # noqa: E402

from bot.bot import Bot  # noqa: E402
from index.store.spec import parse_store  # noqa: E402
from index.store.versions import remove_leftovers  # noqa: E402
from ui.admin import admin_router, upload_body_limit  # noqa: E402
from ui.admission import AdmissionMiddleware  # noqa: E402
from ui.api import api_router  # noqa: E402
from ui.asking import Asker  # noqa: E402
from ui.chat import build_chat, page_css, page_js, theme  # noqa: E402
from ui.config import Config  # noqa: E402
from ui.feedback import FeedbackLog  # noqa: E402
from ui.headers import SecurityHeadersMiddleware, check_origins, frame_ancestors  # noqa: E402
from ui.health import readiness_router  # noqa: E402
from ui.limits import (  # noqa: E402
    BodyLimitMiddleware,
    ChatInputMiddleware,
    MethodMiddleware,
    chat_body_limit,
    declare_question_limits,
    http_error,
    validation_error,
)
from ui.logs import AccessLogMiddleware, setup_logging  # noqa: E402
from ui.openai_api import openai_router  # noqa: E402
from ui.pages import pages_router  # noqa: E402
from ui.questionlog import QuestionLog  # noqa: E402
from ui.sessions import LoginThrottle  # noqa: E402
from ui.uploads import uploads_dir  # noqa: E402
from ui.workers import PoolAsker, process_memory  # noqa: E402

API_DESCRIPTION = """工会知识问答的 REST 接口。答案摘自知识库文档原文，并给出引用位置。

- `POST /api/ask`：提问，请求体 `{"question": "…", "history": [["上一个问题", "上一个回答"], …]}`
- `GET /api/documents`：文档列表；`GET /api/documents/{id}`：文档全文与段落位置
- `GET /api/health`：服务状态；`GET /api/ready`：是否可以立即回答（负载均衡与 systemd 用）
- `POST /v1/chat/completions`、`GET /v1/models`：OpenAI 兼容接口，模型名 `unionqa`
- 服务繁忙时 `POST /api/ask` 与 `POST /v1/chat/completions` 返回 503，并在 `Retry-After` 头中给出建议的重试秒数
"""
LLM_CHAT_STREAMS = 8  # chat answers the LLM may be writing at once, beyond those the processes compute


def create_app(config: Config, bot: Bot, watch_index: bool = False, asker: Asker | None = None) -> FastAPI:
    """The app answering with `bot`. With `watch_index` (what `serve` does) or an
    admin token, a new version of the index in `config.index_dir` replaces the bot
    without a restart; tests that serve a bot loaded from elsewhere leave it off.
    `asker` (for `serve --workers N`: a started ui.workers.PoolAsker) replaces the
    in-process one."""
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
    watched = config.index_dir if watch_index or config.admin_token else None
    if asker is None:
        asker = Asker(bot, config.max_question_chars, index_dir=watched, log_questions=config.log_questions)
    if config.log_questions and asker.question_log is None:
        asker.question_log = QuestionLog(config.question_log_path(), config.log_days)  # old rows go now
    app.state.asker = asker  # the one that answers here: its question log, for the tests and the console
    workers = asker.workers if isinstance(asker, PoolAsker) else 1
    limit = workers * config.queue_per_worker
    app.add_middleware(ChatInputMiddleware, max_chars=config.max_question_chars)
    # inside the body limit: a hostile body is refused before it takes a question's place
    app.add_middleware(AdmissionMiddleware, limit=limit)
    # One size limit for every route, before anything reads a body (the last added runs first):
    # 64 KB unless a rule here says otherwise.
    app.add_middleware(BodyLimitMiddleware, rules=(
        ("/admin/upload", upload_body_limit(config.max_upload_mb), True),  # spooled to disk as it streams
        ("/gradio_api/", chat_body_limit(config.max_question_chars), False),
    ))
    app.add_middleware(MethodMiddleware)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_middleware(SecurityHeadersMiddleware, policy=policy)  # on every response, 413s and 503s included
    app.add_middleware(AccessLogMiddleware)  # every request is logged, 503s included
    if config.forwarded_allow_ips:
        # Outermost: X-Forwarded-For/-Proto only from the configured proxies. Everybody else's
        # address is the connection's own, so a forged header buys no fresh sign-in allowance.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(config.forwarded_allow_ips))
    # Our routes first: the chat is mounted at "/" and would otherwise take every path.
    app.include_router(api_router(asker))
    app.include_router(openai_router(asker, config))  # /v1: the bot as an OpenAI-compatible model
    throttle = LoginThrottle()  # wrong admin tokens, wherever they are tried
    app.include_router(readiness_router(asker, config.admin_token, throttle))
    declare_question_limits(app, config.max_question_chars)
    app.include_router(pages_router(asker, policy, config.corpus_dir, uploads_dir(config.index_dir)))
    app.include_router(admin_router(asker, config, throttle, asker.question_log))  # every /admin path is a 404 without a token
    chat = build_chat(asker, FeedbackLog(config.feedback_log, asker.question_log))
    # The chat's own bounded queue: a full one tells the user at once instead of making them wait.
    # Two answers in progress per answering process keep every process busy; with an LLM,
    # answers spend seconds waiting for its server (in this process, using no core), so more may run.
    concurrency = 2 * workers + (LLM_CHAT_STREAMS if asker.bot.generator is not None else 0)
    chat.queue(default_concurrency_limit=concurrency, max_size=limit)
    gr.mount_gradio_app(
        app,
        chat,
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
    """Run the server until interrupted: JSON-line logs on stderr; with `config.workers` > 1,
    the answering processes are forked first (ui/workers.py), before any server thread starts."""
    setup_logging()
    if parse_store(config.store).milvus is None:
        # a writer killed during a save left a .tmp- folder: gone now, unless a writer is at work
        remove_leftovers(config.index_dir)
    if config.workers > 1:
        asker: Asker = PoolAsker(bot, config.max_question_chars, config.index_dir, config.workers,
                                 log_questions=config.log_questions)
        asker.start()
    else:
        asker = Asker(bot, config.max_question_chars, index_dir=config.index_dir, log_questions=config.log_questions)
        asker.warm_up()
    try:
        app = create_app(config, bot, watch_index=True, asker=asker)
        store = asker.bot.store
        logging.getLogger("unionqa").info("", extra={
            "event": "started", "url": f"http://{config.host}:{config.port}/", "workers": config.workers,
            "index_version": store.version or asker.version, "processes": process_memory(asker),
        })
        if store.warning:
            # said once more now that the log is JSON lines: the load warned before it was set up
            logging.getLogger("unionqa").warning(store.warning, extra={
                "event": "index_fallback", "index_version": store.version})
        print(f"工会知识问答已启动：http://{config.host}:{config.port}/  （接口文档：/docs）", flush=True)
        # log_config=None: uvicorn keeps the JSON-line handler instead of installing its own
        # proxy_headers=False: uvicorn would believe X-Forwarded-For from any local process;
        # create_app trusts it from the configured proxies only (forwarded_allow_ips).
        uvicorn.run(app, host=config.host, port=config.port, log_level="warning", log_config=None,
                    timeout_graceful_shutdown=5, timeout_keep_alive=KEEP_ALIVE_SECONDS, proxy_headers=False)
    finally:
        if isinstance(asker, PoolAsker):
            asker.close()


# How long an idle keep-alive connection stays open. uvicorn's 5 s default closes it while a
# client that got 503 waits its Retry-After (up to 30 s), or while nginx keeps it for its next
# request (its upstream keepalive_timeout is 60 s): the next request on it then races the close
# and fails with no response at all (seen in make bench-load with 200 users; nginx answers a
# POST that meets a closed upstream connection with 502). So it outlasts both.
KEEP_ALIVE_SECONDS = 75


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
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1,
                                           proxy_headers=False))  # as serve: create_app decides whom to trust
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

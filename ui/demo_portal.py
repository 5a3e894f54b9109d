"""A stand-in union portal that embeds the chat with embed.js, served from its own port.

    python -m ui.demo_portal --chat http://127.0.0.1:7860/ --port 8080

then run the chat with `--allowed-origins http://127.0.0.1:8080` and open http://127.0.0.1:8080/.
"""

from __future__ import annotations

import argparse
import html
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TEMPLATE = Path(__file__).parent / "static" / "demo-portal.html"


def demo_portal_html(chat_url: str) -> str:
    """The demo page, with its script tag pointing at the chat server `chat_url`."""
    if not chat_url.endswith("/"):
        chat_url += "/"
    return TEMPLATE.read_text(encoding="utf-8").replace("__CHAT_URL__", html.escape(chat_url, quote=True))


class PortalHandler(BaseHTTPRequestHandler):
    def __init__(self, *args, page: bytes, **kwargs):
        self.page = page
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, format: str, *args) -> None:
        pass


def portal_server(chat_url: str, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server answering every GET with the demo page; port 0 picks a free port."""
    page = demo_portal_html(chat_url).encode("utf-8")
    return ThreadingHTTPServer((host, port), partial(PortalHandler, page=page))


def main() -> None:
    parser = argparse.ArgumentParser(description="示例门户：演示用 embed.js 嵌入工会知识问答")
    parser.add_argument("--chat", default="http://127.0.0.1:7860/", help="问答服务地址")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = portal_server(args.chat, args.host, args.port)
    print(f"示例门户：http://{args.host}:{server.server_address[1]}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

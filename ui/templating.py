"""Jinja2 templates with autoescape for the pages the server renders itself: everything
from a document or a user is escaped by the template engine, not by hand."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

TEMPLATES_DIR = Path(__file__).parent / "templates"
SITE_CSS = Path(__file__).parent / "static" / "site.css"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
# The one stylesheet of these pages, put inline by base.html: our own file, not user text.
_env.globals["site_css"] = Markup(SITE_CSS.read_text(encoding="utf-8"))


def render_page(name: str, **context: object) -> str:
    return _env.get_template(name).render(**context)

"""Jinja2 templates with autoescape for the pages the server renders itself: everything
from a document or a user is escaped by the template engine, not by hand."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES_DIR = Path(__file__).parent / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_page(name: str, **context: object) -> str:
    return _env.get_template(name).render(**context)

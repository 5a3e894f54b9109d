"""The corpus layer: files in, Documents out. Imports nothing from index, bot or ui."""

from __future__ import annotations

from pathlib import Path

# The bundled documents (an article and five labour laws) the app answers from
# until the user points it at a folder of their own.
DEFAULT_CORPUS_DIR: Path = Path(__file__).resolve().parent / "default"

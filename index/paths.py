"""Where unionqa keeps its generated files unless configured otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def unionqa_home() -> Path:
    """UNIONQA_HOME, or ~/.cache/unionqa: converted models, indexes, logs."""
    return Path(os.environ.get("UNIONQA_HOME") or Path.home() / ".cache" / "unionqa")


def default_model_cache() -> Path:
    return unionqa_home() / "models"

"""The one error type of the corpus layer."""

from __future__ import annotations


class LoadError(Exception):
    """A file that cannot be turned into a Document; the message says why, for a user."""

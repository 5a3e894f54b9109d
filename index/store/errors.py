"""The errors of an index store: each a problem to show to the user, with what to do about it."""

from __future__ import annotations

from corpus.errors import UnionQAError


class StoreError(UnionQAError):
    """An index problem to show to the user, with what to do about it."""


class StoreLockedError(StoreError):
    """Another writer held the index folder's lock for too long."""


class IndexMissingError(StoreError):
    pass


class IndexMismatchError(StoreError):
    pass


class IndexCorruptError(IndexMismatchError):
    """Versions exist but none of them is complete: nothing to answer from."""

"""Tokens sent as `Authorization: Bearer <token>`: the admin page, `/api/ready`'s
details and the `/v1` API keys.

HTTP header values are bytes. Starlette decodes them as latin-1, so a token in
Chinese (口令, sent by curl or a script as UTF-8) arrives as mojibake, and comparing
that with the configured token always failed. The token is compared as the bytes the
client sent against the configured token's UTF-8 bytes, in constant time.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

SCHEME = b"bearer "


def bearer_token(request: Request) -> bytes | None:
    """The token of an `Authorization: Bearer …` header, as the bytes sent (None without one)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    raw = header.encode("latin-1")  # undoes Starlette's decoding: the bytes on the wire
    if raw[: len(SCHEME)].lower() != SCHEME:
        return None
    return raw[len(SCHEME):].strip()


def token_matches(given: bytes | str, token: str) -> bool:
    """Whether `given` (bytes from a header, or text from a form) is `token`, in constant time."""
    if isinstance(given, str):
        given = given.encode("utf-8", "surrogatepass")
    return bool(token) and hmac.compare_digest(given, token.encode("utf-8"))


def matching_key(given: bytes | None, keys: tuple[str, ...]) -> str | None:
    """The configured key `given` is, or None. Every key is compared, so the time taken
    does not say which one was close."""
    found = None
    for key in keys:
        if given is not None and token_matches(given, key):
            found = key
    return found

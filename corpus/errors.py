"""The one error hierarchy of unionqa. It lives in the lowest layer so that every layer can
raise it: `UnionQAError` carries a Chinese message (its `str`) and, where the message alone
does not say what to do, a hint for the user. The command line turns any of them into one
line (`line()`) and the HTTP API into one response with the error's `status`.

Each layer's own errors subclass it (LoadError here; StoreError, EmbedderError, BuildError …
in index/; LLMError, CalibrationError, CuratedError in bot/; ConfigError, QuestionError,
ServerBusy … in ui/), so a caller that only needs "a problem to tell the user" catches the
base once, and a caller that can do something specific still catches the subclass."""

from __future__ import annotations


class UnionQAError(Exception):
    """A problem to show to a user as one Chinese line, never a traceback.

    `status` is the HTTP status the API answers with: a 4xx when the request must change;
    500 (the default) when the fault is the server's: the API logs it and says so without
    the details, which may name files; 503 when the server is only busy for now."""

    status: int = 500
    hint: str = ""

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        if hint is not None:
            self.hint = hint

    @property
    def headers(self) -> dict[str, str]:
        """Extra HTTP headers of the response (ServerBusy's Retry-After)."""
        return {}

    def line(self) -> str:
        """The message and the hint, as the one line the command line prints."""
        message = str(self)
        return f"{message}（{self.hint}）" if self.hint and self.hint not in message else message


class LoadError(UnionQAError):
    """A file that cannot be turned into a Document; the message says why, for a user."""

    status = 422

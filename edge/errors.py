"""The one-line text of an exception, for the one-line errors every command prints."""

from __future__ import annotations


def one_line(exc: BaseException, *, with_type: bool = False, limit: int | None = None) -> str:
    """The first non-empty line of `exc`'s message, or its type name when the message is empty.

    `with_type` prefixes the type name ('ValueError: ...'); `limit` shortens the text to that many characters.
    """
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    if not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}" if with_type else text

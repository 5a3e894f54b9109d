"""A table row as a passage: 「列名：值，列名：值」, for spreadsheets, slides and .docx tables."""

from __future__ import annotations

from collections.abc import Sequence

from corpus.structure import clean_line


def row_text(header: Sequence[str], cells: Sequence[str]) -> str:
    """「列名：值，列名：值」; a column without a name is 「第N列」, empty cells are left out."""
    parts = []
    for index, value in enumerate(cells):
        if not value:
            continue
        name = header[index] if index < len(header) and header[index] else f"第{index + 1}列"
        parts.append(f"{name}：{value}")
    return "，".join(parts)


def table_rows(rows: Sequence[Sequence[str]]) -> list[str]:
    """The rows of a table with no row numbers to cite (a .docx table): the first non-empty
    row is the header, each later row one passage."""
    body = [[clean_line(c) for c in row] for row in rows]
    body = [row for row in body if any(row)]
    if len(body) < 2:
        return [" | ".join(c for c in row if c) for row in body]
    header, rest = body[0], body[1:]
    return [text for row in rest if (text := row_text(header, row))]

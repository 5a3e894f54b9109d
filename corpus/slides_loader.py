"""PowerPoint .pptx files: one passage group per slide under its title (or 「第N张幻灯片」),
its text boxes in order and its tables as 「列名：值」 rows; the slide number is the page."""

from __future__ import annotations

import io

from corpus.docx_loader import check_zip
from corpus.errors import LoadError
from corpus.rows import table_rows
from corpus.structure import Block, Parsed, clean_line


def parse_pptx(data: bytes) -> Parsed:
    check_zip(data, ".pptx")
    try:
        return _parse(data)
    except LoadError:
        raise
    except Exception as exc:  # python-pptx lets KeyError, XML and zip errors through on a damaged file
        raise LoadError("不是有效的 .pptx 文件（文件已损坏，或并非 PowerPoint 2007 及以上格式）") from exc


def _parse(data: bytes) -> Parsed:
    from pptx import Presentation

    presentation = Presentation(io.BytesIO(data))
    blocks: list[Block] = []
    count = 0
    for number, slide in enumerate(presentation.slides, start=1):
        count = number
        title_shape = slide.shapes.title
        title = clean_line(" ".join(title_shape.text_frame.text.split())) if title_shape is not None else ""
        body: list[Block] = []
        for shape in slide.shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if shape.has_text_frame:
                body.extend(Block(p, 0, number) for p in (clean_line(x.text) for x in shape.text_frame.paragraphs) if p)
            elif getattr(shape, "has_table", False) and shape.has_table:
                cells = [[clean_line(cell.text) for cell in row.cells] for row in shape.table.rows]
                body.extend(Block(row, 0, number) for row in table_rows(cells))
        if body:
            blocks.append(Block(title or f"第{number}张幻灯片", 1, number))
            blocks.extend(body)
    if not blocks:
        raise LoadError("演示文稿中没有文字内容")
    core = clean_line(presentation.core_properties.title or "")
    return Parsed(blocks, core, {"format": "pptx", "pages": str(count)})

"""The REST API under /api: ask a question, list and read the documents, health."""

from __future__ import annotations

import logging
from dataclasses import asdict

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from bot.bot import Bot
from corpus.errors import UnionQAError
from corpus.records import Document
from ui.api_docs import SSE_RESPONSE, error_responses
from ui.asking import Asker
from ui.limits import INVALID_UNICODE, INVALID_UNICODE_TYPE, has_lone_surrogate
from ui.sessions import client_address
from ui.sse import ClosingEventSourceResponse, answer_events

log = logging.getLogger(__name__)
ANSWER_FAILED = "回答问题时出错，请稍后再试。"


class AskRequest(BaseModel):
    question: str = Field(description="问题", examples=["劳模精神的内涵是什么？"])
    history: list[tuple[str, str]] = Field(
        default_factory=list,
        description="此前的对话，按时间先后排列的 [问题, 回答] 对，用于理解追问；可省略",
        examples=[[]],
    )
    stream: bool = Field(False, description="为 true 时以 Server-Sent Events 逐步返回（partial 事件，最后是 answer 事件）")

    @field_validator("question", "history")
    @classmethod
    def _valid_unicode(cls, value):
        # Refused here, at the entrance: the tokenizer (opencc) cannot encode a lone surrogate.
        texts = [value] if isinstance(value, str) else [t for pair in value for t in pair]
        if any(has_lone_surrogate(t) for t in texts):
            raise PydanticCustomError(INVALID_UNICODE_TYPE, INVALID_UNICODE)
        return value


class CitationOut(BaseModel):
    n: int = Field(description="答案中的编号 [n]")
    doc_id: str
    title: str
    section: str
    text: str = Field(description="被引用的段落原文")
    start: int = Field(description="段落在文档全文中的起始位置（字符）")
    end: int
    score: float
    quotes: list[tuple[int, int]] = Field(description="答案所摘句子在文档全文中的位置 [起, 止)")
    article: str = ""
    page: int | None = None
    chunk_id: str = ""
    markers: list[int] = Field(default_factory=list, description="答案中本条引用的 [n] 在 text 中的起始位置")
    label: str = Field("", description="法规的完整引用，如 《重庆市工会条例》（2011 年修正）第十三条；非法规文件为空")
    version: str = Field("", description="版本，如 2011 年修正")
    jurisdiction: str = Field("", description="适用范围：national（全国）、province（省级）、city（市级）")
    place: str = Field("", description="地方法规的地区，如 上海市；全国性法规为空")
    rank: str = Field("", description="效力级别：法律、行政法规、地方性法规、规章、文件")
    passed: str = Field("", description="通过日期 YYYY-MM-DD")
    amended: str = Field("", description="最近一次修正或修订的日期")
    effective: str = Field("", description="施行日期")
    in_force: bool | None = Field(None, description="是否现行有效（已废止或尚未施行为 false）")
    role: str = Field(
        "",
        description="空：答案本身引用的条款（文中有 [n]）；see_also：「另见」，同一事项上让位于答案所引条款的规定；"
        "other：「其他相关规定」，相近的条款。后两种排在答案引用之后，答案文字不引用，聊天界面中默认折叠",
    )
    doc_number: str = Field("", description="公文的发文字号（文号），如 沪工总发〔2023〕12号；非公文为空")
    issued: str = Field("", description="公文的成文日期 YYYY-MM-DD")
    scanned: bool = Field(False, description="段落由扫描件文字识别（OCR）得来（「扫描件识别」），请以原件为准")


class AnswerOut(BaseModel):
    text: str = Field(description="答案，含引用编号 [n]")
    refused: bool = Field(description="知识库中没有相关内容时为 true（即 status 为 refused）")
    status: str = Field(
        description="answered：文件回答了问题；related：文件没有直接回答，列出可能相关的条款，不作断言；"
        "refused：知识库中没有相关内容；curated：工会审核的回答（工作人员审核过的回答，引用原文，见 approved_at）"
    )
    citations: list[CitationOut]
    question: str
    query: str = Field(description="实际检索的问题（追问补全后）")
    generated: bool = Field(False, description="答案由大模型根据引用段落生成，且每句都已核对出处")
    fallback: str = Field("", description="配置了大模型却给出原文摘录的原因：timeout、error、circuit_open、check_failed")
    notice: str = Field("", description="给用户看的简短说明（大模型不可用时）")
    sentences_checked: int = Field(0, description="大模型生成并经过核对的句数")
    sentences_dropped: int = Field(0, description="其中未通过核对、没有显示的句数")
    curated_id: str = Field("", description="status 为 curated 时：审核回答的编号")
    approved_at: str = Field("", description="status 为 curated 时：审核日期 YYYY-MM-DD")


class DocumentSummary(BaseModel):
    id: str
    title: str
    source: str
    metadata: dict[str, str]
    paragraphs: int
    characters: int
    chunks: int | None = Field(None, description="索引中的分段数")


class ParagraphOut(BaseModel):
    start: int
    end: int
    section: str
    is_heading: bool
    page: int | None


class DocumentOut(BaseModel):
    id: str
    title: str
    source: str
    metadata: dict[str, str]
    text: str = Field(description="文档全文；段落与引用的位置都指向它")
    paragraphs: list[ParagraphOut]


class Health(BaseModel):
    status: str
    documents: int
    chunks: int


class ErrorOut(BaseModel):
    detail: str


def api_router(asker: Asker) -> APIRouter:
    """The routes read `asker.bot` on every request, so they follow the live index."""
    router = APIRouter(prefix="/api", tags=["api"], responses=error_responses(400, 405, 413))

    def summary(doc: Document, bot: Bot) -> DocumentSummary:
        entry = bot.store.manifest.documents.get(doc.doc_id) or {}
        return DocumentSummary(
            id=doc.doc_id,
            title=doc.title,
            source=doc.source,
            metadata=dict(doc.metadata),
            paragraphs=len(doc.paragraphs),
            characters=len(doc.text),
            chunks=entry.get("chunks"),
        )

    @router.post(
        "/ask",
        response_model=AnswerOut,
        summary="提问",
        description="根据知识库回答问题。答案摘自文档原文，`[n]` 对应 `citations` 中第 n 条引用；"
        "知识库中没有相关内容时 `refused` 为 true。",
        responses={
            200: {"content": SSE_RESPONSE, "description": "答案；`stream: true` 时为 Server-Sent Events（ui/sse.py）"},
            **error_responses(422),
            500: {"model": ErrorOut},
            503: {"model": ErrorOut, "description": "服务繁忙：按 Retry-After 头给出的秒数之后再试"},
        },
    )
    def ask(request: AskRequest, http: Request) -> AnswerOut:
        # A plain def: FastAPI runs it in a worker thread, so a slow answer never blocks the server.
        history = [tuple(pair) for pair in request.history]
        try:
            if request.stream:
                # the extractive part runs here, so a bad question or a full pool is a 422 or 503,
                # not an event; only the LLM's writing is streamed
                stream = asker.ask_stream(request.question, history, client_address(http))
                return ClosingEventSourceResponse(answer_events(
                    stream, lambda a: AnswerOut.model_validate(asdict(a)).model_dump(), ANSWER_FAILED),
                    stream)
            answer = asker.ask(request.question, history, client_address(http))
        except UnionQAError as exc:
            if exc.status < 500 or exc.status == 503:  # the request's to change (422), or a full pool
                raise HTTPException(status_code=exc.status, detail=str(exc), headers=exc.headers or None) from exc
            log.exception("the bot failed on a question")  # its message may name files: not shown
            raise HTTPException(status_code=500, detail=ANSWER_FAILED) from exc
        except Exception as exc:
            # not the question itself: logs hold questions only when configured to (ui.logs)
            log.exception("the bot failed on a question")
            raise HTTPException(status_code=500, detail=ANSWER_FAILED) from exc
        return AnswerOut.model_validate(asdict(answer))

    @router.get("/documents", response_model=list[DocumentSummary], summary="知识库中的文档")
    def documents() -> list[DocumentSummary]:
        bot = asker.bot  # once: a swap half-way through must not mix two versions
        return [summary(doc, bot) for doc in bot.documents.values()]

    @router.get(
        "/documents/{doc_id:path}",
        response_model=DocumentOut,
        summary="一篇文档的全文与段落",
        responses=error_responses(404),
    )
    def document(doc_id: str) -> DocumentOut:
        doc = asker.bot.documents.get(doc_id)
        if doc is None:
            raise HTTPException(status_code=404, detail="找不到该文档。")
        return DocumentOut(
            id=doc.doc_id,
            title=doc.title,
            source=doc.source,
            metadata=dict(doc.metadata),
            text=doc.text,
            paragraphs=[ParagraphOut(**asdict(p)) for p in doc.paragraphs],
        )

    @router.get("/health", response_model=Health, summary="服务状态")
    def health() -> Health:
        bot = asker.bot
        return Health(status="ok", documents=len(bot.documents), chunks=len(bot.store.chunks))

    return router

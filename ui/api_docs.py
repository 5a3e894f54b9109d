"""The OpenAPI `responses` entries of the routes: the errors each can answer, with their Chinese
descriptions (/api's `{"detail": …}`, /v1's OpenAI shape), and the event-stream content type."""

from __future__ import annotations

from ui.limits import API_BODY_BYTES


def error_responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI `responses` entries for the 4xx a route can answer, all with a `detail` in Chinese."""
    descriptions = {
        400: "请求格式不正确（请求体不是有效的 JSON）",
        404: "找不到该文档",
        405: "不支持该请求方法",
        413: f"请求内容太大（超过 {API_BODY_BYTES // 1024} KB）",
        422: "参数无效：问题为空、太长或含有无效字符，或字段类型不对",
    }
    schema = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
    return {code: {"description": descriptions[code], "content": {"application/json": {"schema": schema}}}
            for code in codes}


def openai_error_responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI `responses` entries for /v1's errors, in OpenAI's shape `{"error": {…}}`."""
    descriptions = {
        400: "请求格式不正确（不是有效的 JSON、缺少 messages、问题为空或太长、含有无效字符）",
        401: "API 密钥无效或缺失",
        404: "没有该模型",
        405: "不支持该请求方法",
        413: f"请求内容太大（超过 {API_BODY_BYTES // 1024} KB）",
        429: "请求过于频繁或密钥错误次数过多：按 Retry-After 头给出的秒数之后再试",
        500: "回答问题时出错",
        503: "服务繁忙：按 Retry-After 头给出的秒数之后再试",
    }
    error = {"type": "object", "required": ["message", "type"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"},
        "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}
    schema = {"type": "object", "properties": {"error": error}, "required": ["error"]}
    return {code: {"description": descriptions[code], "content": {"application/json": {"schema": schema}}}
            for code in codes}


# each event's data: a JSON object (ui/sse.py, OpenAI's chunks), or /v1's closing `[DONE]`
SSE_RESPONSE = {"text/event-stream": {"schema": {}}}

"""The HTTP surface fuzzed against its own OpenAPI document (issue 22): schemathesis
generates requests for every operation of /api and /v1 (valid ones and, in negative
mode, invalid ones) and sends them to a real server on 127.0.0.1. Every response must
be no server error, have a status code, content type, headers and body that the
document declares.

Bounded: UNIONQA_SCHEMA_EXAMPLES examples per operation and mode (a short run of about
half a minute in `make test`; `make fuzz` runs many more) and the figures (examples run,
server errors, schema violations, seconds) are printed at the end of the module."""

from __future__ import annotations

import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from ui.config import Config
from ui.server import bind_socket, create_app, running

EXAMPLES = int(os.environ.get("UNIONQA_SCHEMA_EXAMPLES", "60"))
KEY = "fuzz-key"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
FIGURES = {"examples": 0, "server_errors": 0, "schema_violations": 0, "seconds": 0.0}


@pytest.fixture(scope="module")
def base_url(bot, tmp_path_factory):
    work = tmp_path_factory.mktemp("schema-fuzz")
    # keys on /v1 (its 401 is declared too) and a rate limit the fuzzing never reaches
    config = Config(feedback_log=work / "feedback.jsonl", api_keys=(KEY,), api_rate_per_minute=100_000,
                    index_dir=work / "index")
    with running(create_app(config, bot), bind_socket()) as url:
        yield url
    print(f"\nschemathesis: {FIGURES['examples']} examples, {FIGURES['server_errors']} server errors, "
          f"{FIGURES['schema_violations']} schema violations, {FIGURES['seconds']:.1f} s")


def operations(base_url: str) -> list:
    schema = schemathesis.openapi.from_url(base_url + "openapi.json")
    # /api and /v1: the chat's Gradio routes and the pages are not in the document
    return [result.ok() for result in schema.include(path_regex=r"^/(api|v1)/").get_all_operations()]


def check(case) -> None:
    FIGURES["examples"] += 1
    headers = {"Authorization": f"Bearer {KEY}"} if case.path.startswith("/v1/") else None
    try:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)
    except FailureGroup as failures:
        kinds = {type(f).__name__ for f in failures.exceptions}
        FIGURES["server_errors"] += "ServerError" in kinds
        FIGURES["schema_violations"] += bool(kinds - {"ServerError"})
        raise


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_within_its_schema(base_url, mode):
    """(schemathesis' pytest plugin loads a schema from a fixture with a pytest API that
    pytest 9 no longer has, so each operation's strategy is run with hypothesis here.)"""
    started = time.perf_counter()
    found = operations(base_url)
    assert {f"{op.method.upper()} {op.path}" for op in found} >= {
        "POST /api/ask", "GET /api/documents", "GET /api/health", "POST /v1/chat/completions", "GET /v1/models"}
    for operation in found:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            check(case)

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # no invalid request exists (GET /api/health takes nothing)
        finally:
            FIGURES["seconds"] += time.perf_counter() - started
            started = time.perf_counter()

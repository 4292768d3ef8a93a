"""The service holds to its OpenAPI document: schemathesis fuzzes a real server with it.

Bounded: a fixed number of examples per operation, each request against 127.0.0.1 only.
Checks: no 5xx, documented status codes, content types, headers and response schemas,
405 for undocumented methods, and 4xx for data the document says is invalid.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (dev extra) is missing")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402
from serving import Running, running, test_settings  # noqa: E402

pytestmark = pytest.mark.slow  # fuzzes a real server: seconds per operation

EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Running]:
    # Generous limits: only a broken document or server, never load, may fail here.
    with running(test_settings(max_body_bytes=64 << 10, request_timeout=20, queue_timeout=10)) as s:
        yield s


@pytest.fixture(scope="module")
def api_schema(fuzzed: Running) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")


@pytest.fixture(scope="module")
def json_only_schema(fuzzed: Running) -> Any:
    """The document with only the JSON request bodies: a raw text body is a string whatever
    is generated, so schema-violating bodies only exist as JSON."""
    document = json.loads(fuzzed.request("/openapi.json").body)
    for item in document["paths"].values():
        for operation in item.values():
            content = operation.get("requestBody", {}).get("content")
            if content and "application/json" in content:
                operation["requestBody"]["content"] = {
                    "application/json": content["application/json"]
                }
    return schemathesis.openapi.from_dict(document)


GET_PATHS = ["/v2/health/live", "/v2/health/ready", "/v2/models/localtypes", "/metrics",
             "/openapi.json"]  # fmt: skip
OPERATIONS = [
    ("POST", "/predict"), ("POST", "/annotate"),
    *[(method, path) for path in GET_PATHS for method in ("GET", "HEAD")],
    # Type4Py's API (tests/service/test_type4py.py): always 200, an error in its envelope,
    # so only valid requests are fuzzed.
    ("POST", "/api/predict"), ("GET", "/api/predict"), ("HEAD", "/api/predict"),
    ("POST", "/api/predict/fetch"), ("OPTIONS", "/api/predict/fetch"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_valid_requests_get_documented_answers(
    fuzzed: Running, api_schema: Any, method: str, path: str
) -> None:
    _fuzz(fuzzed, api_schema[path][method], schemathesis.GenerationMode.POSITIVE)


@pytest.mark.parametrize("path", ["/predict", "/annotate"])
def test_invalid_requests_are_refused_with_documented_answers(
    fuzzed: Running, json_only_schema: Any, path: str
) -> None:
    # The GET operations take no constrained input, so there is nothing to negate there.
    _fuzz(fuzzed, json_only_schema[path]["POST"], schemathesis.GenerationMode.NEGATIVE)


def _fuzz(fuzzed: Running, operation: Any, mode: Any) -> None:
    # Driven through hypothesis directly: schemathesis' pytest plugin does not load
    # under this pytest version.
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        # Every generated string is schema-valid source, but not every string is Python:
        # a 422 for those is the documented answer, not a rejected valid request.
        case.call_and_validate(base_url=fuzzed.url, excluded_checks=[positive_data_acceptance])

    check()


def test_document_is_valid_openapi_3_1(fuzzed: Running) -> None:
    document = json.loads(fuzzed.request("/openapi.json").body)
    assert document["openapi"] == "3.1.0"
    loaded = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == set(OPERATIONS)

"""Other modules of the project as context: /predict and /annotate take them as evidence."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator

import pytest
from serving import Running, running, test_settings

from localtypes.api import predict

UTIL = "def tokenize(source, strict=False):\n    return [source]\n"
MAIN = "from .util import tokenize\n\ndef run():\n    return tokenize('text', strict=True)\n"


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    with running(test_settings()) as served:
        yield served


def _post(api: Running, endpoint: str, document: Dict[str, Any]) -> Any:
    answer = api.request(endpoint, json.dumps(document).encode(), content_type="application/json")
    return answer.status, json.loads(answer.body)


def test_predict_with_context_answers_as_the_api_does(api: Running) -> None:
    document = {"source": UTIL, "path": "pkg/util.py", "context": {"pkg/main.py": MAIN}}
    status, body = _post(api, "/predict", document)
    assert status == 200
    expected = predict(UTIL, "pkg/util.py", context={"pkg/main.py": MAIN}).to_dict()
    assert body["slots"] == json.loads(json.dumps(expected["slots"]))


def test_context_is_evidence_the_scores_depend_on(api: Running) -> None:
    with_context = predict(UTIL, "pkg/util.py", context={"pkg/main.py": MAIN}, top_k=3)
    alone = predict(UTIL, "pkg/util.py", top_k=3)
    strict_with = next(s for s in with_context.slots if s.slot.name == "strict")
    strict_alone = next(s for s in alone.slots if s.slot.name == "strict")
    assert "xst:bool" in strict_with.slot.features
    assert strict_with.guesses != strict_alone.guesses


def test_annotate_takes_context(api: Running) -> None:
    document = {"source": UTIL, "path": "pkg/util.py", "context": {"pkg/main.py": MAIN}}
    status, body = _post(api, "/annotate", document)
    assert status == 200 and isinstance(body["source"], str)


@pytest.mark.parametrize(
    ("context", "needle"),
    [
        ([], "must be an object"),
        ({"/etc/passwd.py": "x = 1\n"}, "relative paths"),
        ({"../up.py": "x = 1\n"}, "relative paths"),
        ({"notes.txt": "x"}, "relative paths"),
        ({"a.py": 1}, "values are sources"),
    ],
)
def test_bad_context_is_a_clear_400(api: Running, context: Any, needle: str) -> None:
    status, body = _post(api, "/predict", {"source": "x = 1\n", "context": context})
    assert status == 400 and needle in body["error"]


def test_a_context_module_that_does_not_parse_adds_nothing(api: Running) -> None:
    document = {"source": UTIL, "path": "pkg/util.py", "context": {"pkg/bad.py": "def (:\n"}}
    status, body = _post(api, "/predict", document)
    assert status == 200
    assert body["slots"] == json.loads(json.dumps(predict(UTIL, "pkg/util.py").to_dict()["slots"]))

"""``localtypes.api.check_annotated``: outputs from elsewhere (a cache entry) held to the
writer's checks, with what was added worked out from the two texts."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from localtypes.analysis.slots import SlotKind
from localtypes.api import check_annotated
from localtypes.edit.safety import UnsafeEditError

HERE = Path(__file__).resolve().parent


def _golden_module() -> ModuleType:
    """test_rounds (the writer's golden files), loaded by path: test files are no package."""
    spec = importlib.util.spec_from_file_location("_golden_rounds", HERE / "test_rounds.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ROUNDS = _golden_module()
GOLDEN = sorted(ROUNDS.CASES.glob("*.py"))


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_every_golden_output_of_the_writer_checks_out(path: Path) -> None:
    case = ROUNDS.load_case(path)
    result = ROUNDS.run_case(case, case.source)
    found = check_annotated(case.source, result.source, "case.py", kinds=case.options.kinds)
    assert found == dict(Counter(item.slot.kind.value for item in result.added))


ORIGINAL = '''\
#!/usr/bin/env python3
"""A module."""

import dataclasses
from typing import List


@dataclasses.dataclass
class Point:
    x = 0


class Plain:
    size = 1


def f(a, b=1):
    total = a + b  # add them
    return total
'''

GOOD = (
    ORIGINAL.replace("from typing import List", "from typing import List, Optional")
    .replace("def f(a, b=1):", "def f(a: int, b: Optional[int] = 1) -> int:")
    .replace("    size = 1", "    size: int = 1")
)


def test_an_honest_output_checks_out() -> None:
    assert check_annotated(ORIGINAL, GOOD, "m.py") == {"param": 2, "return": 1, "variable": 1}
    assert check_annotated(ORIGINAL, ORIGINAL, "m.py") == {}


BAD = {
    "code appended": GOOD + "import os; os.system('echo owned')\n",
    "code in an annotation": GOOD.replace("a: int", "a: __import__('os').system('x')"),
    "a lambda in an annotation": GOOD.replace("a: int", "a: (lambda: 1)()"),
    "code in a quoted annotation": GOOD.replace("a: int", "a: 'os.system(\"x\")'"),
    "a walrus": GOOD.replace("a: int", "a: (x := int)"),
    "a comment added": GOOD.replace("# add them", "# add them  # nosec"),
    "a comment at a line end": GOOD.replace("return total", "return total  # noqa"),
    "the shebang changed": GOOD.replace("#!/usr/bin/env python3", "#!/tmp/x /usr/bin/env python3"),
    "a type comment": GOOD.replace("    total = a + b", "    total = a + b  # type: int", 1),
    "text deleted": GOOD.replace("total = a + b", "total = a"),
    "text replaced": GOOD.replace("a + b", "a - b"),
    "an import the writer never adds": "import antigravity\n" + GOOD,
    "an import as another name": GOOD.replace(", Optional", ", Optional as O"),
    "a star import": "from typing import *\n" + GOOD,
    "a future import": "from __future__ import annotations\n" + GOOD,
    "a dataclass field": GOOD.replace("    x = 0", "    x: int = 0"),
    "a dunder": GOOD.replace('"""A module."""\n', '"""A module."""\n__all__: list = []\n'),
    "an old annotation changed": GOOD.replace("a: int", "a: str").replace(
        "def f(a, b=1):", "def f(a: int, b=1):"
    ),
    "code that does not parse": GOOD + "def (\n",
}


@pytest.mark.parametrize("what", sorted(BAD))
def test_anything_but_annotations_and_their_imports_is_refused(what: str) -> None:
    original = ORIGINAL
    if what == "an old annotation changed":
        original = ORIGINAL.replace("def f(a, b=1):", "def f(a: int, b=1):")
    with pytest.raises(UnsafeEditError):
        check_annotated(original, BAD[what], "m.py")


def test_kinds_not_asked_for_are_refused() -> None:
    with pytest.raises(UnsafeEditError, match="kind not asked for"):
        check_annotated(ORIGINAL, GOOD, "m.py", kinds={SlotKind.PARAM, SlotKind.RETURN})


@pytest.mark.parametrize(
    ("original", "planted"),
    [
        (
            "def f(a, b):  # localtypes: skip\n    return a\n",
            "def f(a, b: int):  # localtypes: skip\n    return a\n",
        ),
        (
            "def f(\n    a,  # localtypes: skip\n    b,\n):\n    return a\n",
            "def f(\n    a: int,  # localtypes: skip\n    b,\n):\n    return a\n",
        ),
        (
            "# localtypes: skip-file\ndef f(a):\n    return a\n",
            "# localtypes: skip-file\nfrom typing import List\ndef f(a: List[int]):\n"
            "    return a\n",
        ),
    ],
)
def test_an_annotation_a_skip_comment_forbids_is_refused(original: str, planted: str) -> None:
    """A cache entry (planted, or from a writer that ignored the comment) is held to them."""
    with pytest.raises(UnsafeEditError, match="localtypes: skip"):
        check_annotated(original, planted)
    honest = original.replace("    b,\n", "    b: int,\n")
    if honest != original:  # the slot next to the skipped one may be annotated
        assert check_annotated(original, honest) == {"param": 1}


def test_literal_values_and_forward_references() -> None:
    original = "class Token:\n    pass\n\n\ndef f(mode, token):\n    return mode\n"
    new = original.replace(
        "def f(mode, token):",
        "def f(mode: Literal['r', \"w(x)\", -1, None], token: 'Token | None') -> 'list[Token]':",
    )
    new = "from typing import Literal\n" + new
    assert check_annotated(original, new, "m.py") == {"param": 2, "return": 1}

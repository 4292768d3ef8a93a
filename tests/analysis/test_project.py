"""The project index: call sites across modules become features of the callee's slots."""

from __future__ import annotations

import textwrap
from typing import Dict

from localtypes.analysis.extract import extract
from localtypes.analysis.project import ProjectIndex, module_name
from localtypes.module import ModuleIndex
from localtypes.syntax import parse_source

UTIL = """\
class Token:
    def __init__(self, text, line):
        self.text = text

    def render(self, width):
        return self.text

def tokenize(source, strict=False):
    return [Token(source, 1)]
"""

MAIN = """\
from .util import Token, tokenize
from . import util

def run(path):
    for token in tokenize(open(path).read(), strict=True):
        print(token.render(80))
    token = util.Token("x", line=3)
    return len(tokenize("a"))

class Runner:
    def go(self, n):
        return self.step(n, "fast")

    def step(self, count, mode):
        return count
"""


def _project(sources: Dict[str, str]) -> ProjectIndex:
    indexes = {}
    for path, source in sources.items():
        source = textwrap.dedent(source)
        indexes[path] = ModuleIndex(parse_source(source), source)
    return ProjectIndex(indexes)


def test_module_names() -> None:
    assert module_name("pkg/sub/mod.py") == "pkg.sub.mod"
    assert module_name("pkg/__init__.py") == "pkg"
    assert module_name("tool.pyi") == "tool"


def test_call_sites_across_modules_become_parameter_features() -> None:
    project = _project({"pkg/util.py": UTIL, "pkg/main.py": MAIN, "pkg/__init__.py": ""})
    facts = project.facts("pkg/util.py")
    # tokenize(open(path).read(), strict=True) and tokenize("a"): both call sites bound.
    source = facts[("tokenize", 0, "source")]
    assert "xn:2" in source and "xst:str" in source and "xs:call" in source
    assert "xst:bool" in facts[("tokenize", 0, "strict")]
    # Token(source, 1) in util and util.Token("x", line=3) in main: __init__'s parameters,
    # self skipped; line comes once by position and once by keyword.
    assert "xst:int" in facts[("Token.__init__", 0, "line")]
    assert "xst:str" in facts[("Token.__init__", 0, "text")]
    # token.render(80) goes through an instance: not resolved (no type inference here).
    assert ("Token.render", 0, "width") not in facts
    # How callers use a result: iterated, passed to len().
    returns = facts[("tokenize", 0, "return")]
    assert "xr:iterated" in returns and "xrarg:len" in returns


def test_self_method_calls_resolve_inside_the_class() -> None:
    facts = _project({"pkg/main.py": MAIN}).facts("pkg/main.py")
    assert "xst:str" in facts[("Runner.step", 0, "mode")]
    assert "xs:name:n" in facts[("Runner.step", 0, "count")]
    assert "xr:returned" in facts[("Runner.step", 0, "return")]


def test_an_unknown_or_external_call_adds_nothing() -> None:
    facts = _project({"a.py": "import os\nos.getcwd()\nprint(1)\n"}).facts("a.py")
    assert facts == {}


def test_extraction_puts_the_facts_on_the_slots() -> None:
    sources = {"pkg/util.py": UTIL, "pkg/main.py": MAIN}
    project = _project(sources)
    index = project.modules["pkg/util.py"]
    slots = extract(index.source, index=index, facts=project.facts("pkg/util.py")).slots
    by_name = {(slot.scope, slot.name): slot.features for slot in slots}
    assert "xst:bool" in by_name[("tokenize", "strict")]
    assert "sd:bool" in by_name[("tokenize", "strict")]  # the default, from the static pass
    alone = extract(index.source).slots
    assert not any(f.startswith("x") for slot in alone for f in slot.features)


def test_relative_imports_resolve_from_a_package_init() -> None:
    project = _project(
        {"pkg/__init__.py": "from .util import tokenize\ntokenize('s')\n", "pkg/util.py": UTIL}
    )
    assert "xst:str" in project.facts("pkg/util.py")[("tokenize", 0, "source")]

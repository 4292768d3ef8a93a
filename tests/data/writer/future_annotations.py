# writer: target=3.8
# slot: param load path -> pathlib.Path | None
# slot: param load items -> list[Node]
# slot: return load -> dict[str, list[int]]
# slot: param Node.link other -> Node
"""Modern syntax is fine under the future import, even for 3.8."""
from __future__ import annotations


def load(path, items):
    return {}


class Node:
    def link(self, other):
        self.next = other
# output:
"""Modern syntax is fine under the future import, even for 3.8."""
from __future__ import annotations

from pathlib import Path


def load(path: Path | None, items: list[Node]) -> dict[str, list[int]]:
    return {}


class Node:
    def link(self, other: Node):
        self.next = other

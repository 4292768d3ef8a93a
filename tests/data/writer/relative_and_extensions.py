# writer: target=3.8
# slot: param render node -> nodes.Template
# slot: return render -> nodes.Node | None
# slot: param Walker.copy depth -> int
# slot: return Walker.copy -> Self
from . import nodes
import typing_extensions as te


def render(node):
    return node


class Walker:
    def copy(self, depth):
        return self
# output:
from . import nodes
import typing_extensions as te
from typing import Optional


def render(node: nodes.Template) -> Optional[nodes.Node]:
    return node


class Walker:
    def copy(self, depth: int) -> te.Self:
        return self

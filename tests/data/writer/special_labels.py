# slot: param make kind -> Optional
# slot: return make -> Self
# slot: param Node.clone other -> Self
# slot: return Node.clone -> Self
# slot: param use_re pattern -> re.Pattern[str]
# slot: param unbox box -> Box[int]
# slot: return unbox -> Plain[int]
# slot: param unbox default -> Literal[a, "b", Color.RED, -1, None] | None
# skip: param make kind unsupported-label
# skip: return make unsupported-label
# skip: param use_re pattern name-clash
import re
from enum import Enum
from typing import Generic, TypeVar

T = TypeVar("T")


def make(kind):
    pass


class Node:
    def clone(self, other):
        return self


def use_re(pattern):
    return pattern


del re


class Box(Generic[T]):
    pass


class Plain:
    pass


class Color(Enum):
    RED = 1


def unbox(box, default=None):
    pass
# output:
import re
from enum import Enum
from typing import Generic, TypeVar, Literal, Self

T = TypeVar("T")


def make(kind):
    pass


class Node:
    def clone(self, other: Self) -> Self:
        return self


def use_re(pattern):
    return pattern


del re


class Box(Generic[T]):
    pass


class Plain:
    pass


class Color(Enum):
    RED = 1


def unbox(box: Box[int], default: Literal['a', 'b', Color.RED, -1, None] | None = None) -> "Plain[int]":
    pass

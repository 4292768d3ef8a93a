# writer: kinds=param,return,variable
# slot: variable <module> counter -> int
# slot: variable <module> T -> TypeVar
# slot: variable <module> Alias -> type
# slot: variable Plain limit -> int
# slot: variable Record size -> int
# slot: variable work total -> int
# slot: variable work label -> str
# slot: variable work flag -> bool
# slot: return work -> int
# skip: variable <module> T type-alias
# skip: variable <module> Alias type-alias
# skip: variable Record size class-attribute
from dataclasses import dataclass
from typing import TypeVar, Union

counter = 0
T = TypeVar("T")
Alias = Union[int, str]


class Plain:
    limit = 10


@dataclass
class Record:
    size = 3


def work():
    total = 0
    try:
        label = "x"
    except ValueError:
        label = "y"
    label = "z"
    flag = total > 1; total += 1
    return total
# output:
from dataclasses import dataclass
from typing import TypeVar, Union

counter: int = 0
T = TypeVar("T")
Alias = Union[int, str]


class Plain:
    limit: int = 10


@dataclass
class Record:
    size = 3


def work() -> int:
    total: int = 0
    try:
        label: str = "x"
    except ValueError:
        label = "y"
    label = "z"
    flag: bool = total > 1; total += 1
    return total

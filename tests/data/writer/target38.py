# writer: target=3.8
# slot: param f names -> list[str]
# slot: param f table -> dict[str, list[int]] | None
# slot: param f either -> int | str | None
# slot: param f queue -> collections.deque[int]
# slot: return f -> tuple[int, ...]
# slot: param g pattern -> re.Pattern[str]
# slot: return g -> type[Exception]
from typing import Any, cast


def f(names, table, either, queue):
    return cast(Any, names)


def g(pattern):
    return ValueError
# output:
from typing import Any, cast, Deque, Dict, List, Optional, Pattern, Tuple, Type, Union


def f(names: List[str], table: Optional[Dict[str, List[int]]], either: Union[int, str, None], queue: Deque[int]) -> Tuple[int, ...]:
    return cast(Any, names)


def g(pattern: Pattern[str]) -> Type[Exception]:
    return ValueError

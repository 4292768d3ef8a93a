# writer: target=3.8
# slot: param f a -> str | None
# slot: param f b -> Callable[[], None]
# slot: return f -> list[int]
from typing import (
    Any,
    Dict,
)


def f(a, b):
    return []
# output:
from typing import (
    Any,
    Dict,
    Callable,
    List,
    Optional,
)


def f(a: Optional[str], b: Callable[[], None]) -> List[int]:
    return []

# slot: param apply fn -> Callable[[int], int]
# slot: param apply key -> Callable[[int], int]
# slot: return apply -> int
square = lambda x: x * x


def apply(fn, key=lambda v: v + 1):
    return fn(key(2))
# output:
from typing import Callable

square = lambda x: x * x


def apply(fn: Callable[[int], int], key: Callable[[int], int] = lambda v: v + 1) -> int:
    return fn(key(2))

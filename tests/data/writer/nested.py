# slot: param outer n -> int
# slot: return outer -> Callable[[int], int]
# slot: param outer.inner m -> int
# slot: return outer.inner -> int
# slot: param Outer.method other -> Outer
# slot: return Outer.method -> Outer.Inner
# slot: param Outer.Inner.deep x -> Outer.Inner
# slot: return later -> Later
# slot: param Later.__init__ value -> int
# slot: return Later.__init__ -> None
def outer(n):
    def inner(m):
        return n + m
    return inner


class Outer:
    class Inner:
        def deep(self, x):
            return x

    def method(self, other):
        return Outer.Inner()


def later():
    return Later(1)


class Later:
    def __init__(self, value):
        self.value = value
# output:
from typing import Callable

def outer(n: int) -> Callable[[int], int]:
    def inner(m: int) -> int:
        return n + m
    return inner


class Outer:
    class Inner:
        def deep(self, x: "Outer.Inner"):
            return x

    def method(self, other: "Outer") -> "Outer.Inner":
        return Outer.Inner()


def later() -> "Later":
    return Later(1)


class Later:
    def __init__(self, value: int) -> None:
        self.value = value

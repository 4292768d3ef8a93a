# slot: param parse@2 value -> int | str
# slot: return parse@2 -> int
# slot: param parse@0 value -> int
from typing import overload


@overload
def parse(value: int) -> int: ...
@overload
def parse(value: str) -> int: ...
def parse(value):
    return int(value)
# output:
from typing import overload


@overload
def parse(value: int) -> int: ...
@overload
def parse(value: str) -> int: ...
def parse(value: int | str) -> int:
    return int(value)

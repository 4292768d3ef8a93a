# writer: target=3.9
# slot: param f names -> list[str]
# slot: param f table -> dict[str, list[int]] | None
# slot: param f either -> int | str
# slot: return f -> collections.deque[int]
def f(names, table, either):
    pass
# output:
from collections import deque
from typing import Optional, Union

def f(names: list[str], table: Optional[dict[str, list[int]]], either: Union[int, str]) -> deque[int]:
    pass

# writer: target=3.10
# slot: param f names -> list[str]
# slot: param f table -> dict[str, list[int]] | None
# slot: param f either -> int | str
# slot: return f -> Iterator[int]
def f(names, table, either):
    yield 1
# output:
from typing import Iterator

def f(names: list[str], table: dict[str, list[int]] | None, either: int | str) -> Iterator[int]:
    yield 1

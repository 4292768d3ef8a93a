# writer: target=3.9
# slot: param run callback -> Callable[[int], str] | None
# slot: return run -> Iterator[str]
import typing as t


def run(callback):
    yield callback(1)
# output:
import typing as t


def run(callback: t.Optional[t.Callable[[int], str]]) -> t.Iterator[str]:
    yield callback(1)

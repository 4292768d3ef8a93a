# writer: target=3.8
# slot: param f a -> str | None
# slot: param f b -> Callable[[], None]
# slot: return f -> list[int]
# slot: param g x -> collections.OrderedDict
# slot: param h y -> pathlib.Path
from typing import (
    Any,  # first
    Dict,  # second
)
from collections import (deque,)
from pathlib import (PurePath
    )


def f(a, b):
    return []


def g(x):
    pass


def h(y):
    pass
# output:
from typing import (
    Any,  # first
    Dict,  # second
    Callable,
    List,
    Optional,
)
from collections import (deque, OrderedDict,)
from pathlib import (PurePath, Path
    )


def f(a: Optional[str], b: Callable[[], None]) -> List[int]:
    return []


def g(x: OrderedDict):
    pass


def h(y: Path):
    pass

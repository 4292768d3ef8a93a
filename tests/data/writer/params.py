# slot: param everything a -> int
# slot: param everything b -> str
# slot: param everything c -> bytes
# slot: param everything args -> int
# slot: param everything d -> bool
# slot: param everything e -> float
# slot: param everything kwargs -> str
# slot: return everything -> None
# slot: param bare x -> int
# slot: param bare y -> int
def everything(a, /, b, c=b"", *args, d, e=1.0, **kwargs):
    pass


def bare(x, *, y):
    pass
# output:
def everything(a: int, /, b: str, c: bytes = b"", *args: int, d: bool, e: float = 1.0, **kwargs: str) -> None:
    pass


def bare(x: int, *, y: int):
    pass

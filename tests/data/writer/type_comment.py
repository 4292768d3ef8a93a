# slot: param f a -> int
# slot: return f -> int
# slot: param g a -> int
# skip: param f a type-comment
def f(a):
    # type: (int) -> int
    return a


def g(a):  # type: ignore[no-untyped-def]
    return a
# output:
def f(a):
    # type: (int) -> int
    return a


def g(a: int):  # type: ignore[no-untyped-def]
    return a

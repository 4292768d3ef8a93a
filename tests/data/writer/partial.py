# slot: param f a -> int
# slot: param f b -> str
# slot: return f -> bool
def f(a, b: "str | None" = None) -> bool:  # b and the return keep what they have
    return True
# output:
def f(a: int, b: "str | None" = None) -> bool:  # b and the return keep what they have
    return True

# slot: param greet name -> str
# slot: param greet times -> int
# slot: param greet sep -> str
# slot: param greet loud -> bool
# slot: return greet -> str
# slot: param spaced x -> float
# slot: return spaced -> float
"""A module with a docstring and odd formatting."""

import os


def greet(name,  # who
          times=1,
          sep = " ",
          loud=False,   # shout?
          ):
    return sep.join([name] * times)


def spaced( x )  :
    return x * 2.0  # comment stays
# output:
"""A module with a docstring and odd formatting."""

import os


def greet(name: str,  # who
          times: int = 1,
          sep: str = " ",
          loud: bool = False,   # shout?
          ) -> str:
    return sep.join([name] * times)


def spaced( x: float ) -> float  :
    return x * 2.0  # comment stays

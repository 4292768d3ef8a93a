# slot: param use thing -> Thing
# slot: return use -> Thing
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from things import Thing


def use(thing):
    return thing
# output:
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from things import Thing


def use(thing: "Thing") -> "Thing":
    return thing

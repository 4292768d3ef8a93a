# slot: param open_it where -> pathlib.Path
# slot: param Registry.names prefix -> str
# slot: return Registry.names -> list[str]
# slot: param Registry.set value -> int
# slot: param Registry.format spec -> str
# slot: return Registry.format -> str
# skip: return Registry.names name-clash
# skip: param Registry.format spec name-clash
# skip: return Registry.format name-clash
Path = "not a path"


def open_it(where):
    return open(where)


class Registry:
    def list(self):
        return []

    def str(self):
        return ""

    def names(self, prefix):
        return [n for n in self.list() if n.startswith(prefix)]

    def set(self, value):
        self.value = value

    def format(self, spec):
        return spec
# output:
import pathlib

Path = "not a path"


def open_it(where: pathlib.Path):
    return open(where)


class Registry:
    def list(self):
        return []

    def str(self):
        return ""

    def names(self, prefix):
        return [n for n in self.list() if n.startswith(prefix)]

    def set(self, value: int):
        self.value = value

    def format(self, spec):
        return spec

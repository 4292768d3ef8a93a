# slot: param cached key -> str
# slot: return cached -> bytes
# slot: param fetch url -> str
# slot: return fetch -> bytes
# slot: return Box.size -> int
# slot: param Box.size@1 value -> int
# slot: return Box.size@1 -> None
# slot: param Box.make count -> int
# slot: return Box.make -> Box
# slot: param Box.helper text -> str
import functools


@functools.lru_cache(maxsize=None)
def cached(key):
    return key.encode()


async def fetch(url):
    return await download(url)


class Box:
    @property
    def size(self):
        return self._size

    @size.setter
    def size(self, value):
        self._size = value

    @classmethod
    def make(cls, count):
        return cls()

    @staticmethod
    def helper(text):
        print(text)
# output:
import functools


@functools.lru_cache(maxsize=None)
def cached(key: str) -> bytes:
    return key.encode()


async def fetch(url: str) -> bytes:
    return await download(url)


class Box:
    @property
    def size(self) -> int:
        return self._size

    @size.setter
    def size(self, value: int) -> None:
        self._size = value

    @classmethod
    def make(cls, count: int) -> "Box":
        return cls()

    @staticmethod
    def helper(text: str):
        print(text)

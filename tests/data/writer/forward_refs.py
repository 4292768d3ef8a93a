# writer: kinds=param,return,variable target=3.9
# slot: variable <module> DEFAULT -> Settings | None
# slot: variable Settings instance -> Settings | None
# slot: param Settings.merge other -> Settings
# slot: return Settings.merge -> Settings
# slot: param Settings.merge.combine left -> Settings
# slot: return Settings.merge.combine -> Settings
# slot: return build -> Settings
# slot: param build parts -> list[Settings]
import typing

DEFAULT = None


class Settings:
    instance = None

    def merge(self, other):
        def combine(left):
            return left
        return combine(other)


def build(parts):
    return parts[0]
# output:
import typing

DEFAULT: "typing.Optional[Settings]" = None


class Settings:
    instance: "typing.Optional[Settings]" = None

    def merge(self, other: "Settings") -> "Settings":
        def combine(left: Settings) -> Settings:
            return left
        return combine(other)


def build(parts: list[Settings]) -> Settings:
    return parts[0]

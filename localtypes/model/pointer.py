"""The pointer's side of the model input: the names a module can see, turned into
candidate answers, and the evidence that relates a slot to each of them.

A candidate is a visible name (a class of the module, a type alias, an imported class)
written in one of the encoder's templates (``X``, ``X | None``, ``list[X]``). Pair
features say why a slot might take it: the parameter is ``user`` and the class ``User``,
the body calls ``isinstance(x, User)``, the function returns ``User(...)``, the body uses
members the class defines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

from localtypes.analysis.features.names import subtokens
from localtypes.analysis.slots import ModuleInfo, Slot, SlotKind
from localtypes.labels import TYPING_MODULES

MAX_BASES = 64  # visible names turned into candidates, per module (defaults for new stores)


@dataclass(frozen=True)
class VisibleName:
    """A visible name the pointer can answer with."""

    label: str  # canonical label of the bare name: "Token", "pathlib.Path"
    local: str  # how the module refers to it: "Token", "Path", "Outer.Inner"
    source: str  # "class", "import" or "relative"


def visible_candidates(info: ModuleInfo, limit: int = MAX_BASES) -> List[VisibleName]:
    """The module's classes, type aliases and imported class-like names, in a stable order."""
    found: Dict[str, VisibleName] = {}
    for name in info.classes:
        found.setdefault(name, VisibleName(label=name, local=name, source="class"))
    for name in info.aliases:
        found.setdefault(name, VisibleName(label=name, local=name, source="alias"))
    for local, origin in info.imports.items():
        last = origin.rsplit(".", 1)[-1]
        if not last[:1].isupper() or last.isupper():
            continue  # modules, functions and CONSTANTS are not types
        module = origin.rsplit(".", 1)[0] if "." in origin else ""
        if module in TYPING_MODULES:
            continue  # typing names are in the vocabulary
        relative = origin.startswith(".")
        label = local if relative else origin
        found.setdefault(label, VisibleName(label, local, "relative" if relative else "import"))
    return list(found.values())[:limit]


class PairMatcher:
    """Finds, for one slot, the visible names it relates to, by looking its features up."""

    _EVIDENCE = (
        ("uisinstance:", "isinstance"),
        ("r:call:", "ret_call"),
        ("rv:call:", "ret_call"),
        ("dv:call:", "default"),
        ("dv:attrof:", "default"),
        ("v:call:", "value"),
        ("v:attrof:", "value"),
        ("b:", "body_ref"),
        ("doc:", "doc"),
        ("rdoc:", "doc"),
        ("r:on:", "ret_on"),  # return Foo.from_dict(...)
        ("rv:on:", "ret_on"),
        ("v:on:", "value_on"),
        ("dv:on:", "default"),
    )
    # Usage features that name a member: x.attr, x.method(), x.attr = ...
    _MEMBER_USES = ("ua:", "um:", "uset:")
    # The first segments of the (lowered) features that can relate a slot to a candidate.
    _HEADS = frozenset({prefix.split(":", 1)[0] for prefix, _ in _EVIDENCE} | {"c", "r"})

    def __init__(self, bases: Sequence[VisibleName], members: Dict[str, Tuple[str, ...]]) -> None:
        self.by_member: Dict[str, List[int]] = {}
        for index, cand in enumerate(bases):
            if cand.source == "class":
                for member in members.get(cand.local, ()):
                    self.by_member.setdefault(member, []).append(index)
        self.by_name: Dict[str, List[int]] = {}
        self.by_joined: Dict[str, List[int]] = {}
        self.by_last: Dict[str, List[int]] = {}
        self.by_token: Dict[str, List[int]] = {}
        for index, cand in enumerate(bases):
            name = cand.local.rsplit(".", 1)[-1]
            toks = subtokens(name)
            self.by_name.setdefault(name.lower(), []).append(index)
            self.by_name.setdefault(cand.local.lower(), []).append(index)
            if toks:
                self.by_joined.setdefault("".join(toks), []).append(index)
                self.by_last.setdefault(toks[-1], []).append(index)
                for tok in set(toks):
                    self.by_token.setdefault(tok, []).append(index)
        self._by_own: Dict[str, List[Tuple[List[int], str]]] = {}
        self._effects: Dict[str, _Effect] = {}

    def pairs(self, slot: Slot) -> Dict[int, List[str]]:
        """Candidate index -> the pair features that relate it to ``slot``."""
        found: Dict[int, List[str]] = {}
        if not self.by_name:
            return found

        def add(indexes: Sequence[int], tag: str) -> None:
            for index in indexes:
                tags = found.setdefault(index, [])
                if tag not in tags:
                    tags.append(tag)

        name = slot.scope.rsplit(".", 1)[-1] if slot.kind is SlotKind.RETURN else slot.name
        by_own = self._by_own.get(name)
        if by_own is None:
            by_own = self._by_own[name] = self._own_lookups(name)
        for indexes, tag in by_own:
            add(indexes, tag)
        returns_self = False
        matched: Dict[int, int] = {}
        effects = self._effects
        for feature in slot.features:
            effect = effects.get(feature)
            if effect is None:
                effect = effects[feature] = self._effect(feature)
            if effect is _NO_EFFECT:
                continue
            members, is_self, lookups = effect
            for index in members:
                matched[index] = matched.get(index, 0) + 1
            if is_self:
                returns_self = True
            for indexes, tag in lookups:
                add(indexes, tag)
        for index, count in matched.items():
            add([index], "member" if count == 1 else "members2")
            if count >= 3:
                add([index], "members3")
        if returns_self:
            for tags in found.values():
                if "enclosing" in tags:
                    tags.append("returns_self")
        return found

    # Lookups are a pure function of a name or a feature string for one module, and the
    # slots of a module share most of their features: each string is examined once per
    # module (a matcher lives for one encode call) instead of once per slot.

    def _own_lookups(self, name: str) -> List[Tuple[List[int], str]]:
        """The name features of a slot called ``name``: (candidates, tag), in order."""
        out: List[Tuple[List[int], str]] = []
        own = subtokens(name)
        if own:
            joined = "".join(own)
            out.append((self.by_joined.get(joined, []), "name_eq"))
            out.append((self.by_last.get(own[-1], []), "name_last"))
            for plural in (own[-1][:-1], own[-1][:-2]):
                if own[-1].endswith("s") and plural:
                    out.append((self.by_last.get(plural, []), "name_plural"))
            for tok in own:
                out.append((self.by_token.get(tok, []), "name_overlap"))
        return [(indexes, tag) for indexes, tag in out if indexes]

    def _effect(self, feature: str) -> _Effect:
        """What one slot feature contributes: member hits, returns-self, (candidates, tag)."""
        members: List[int] = []
        if feature.startswith(self._MEMBER_USES):
            members = self.by_member.get(feature.split(":", 1)[1], [])
        lowered = feature.lower()
        if not members and lowered.partition(":")[0] not in self._HEADS:
            return _NO_EFFECT  # no evidence prefix, no "c:", no "r:self" can match
        is_self = lowered in ("r:self", "r:cls", "r:call:cls")
        lookups: List[Tuple[List[int], str]] = []
        for prefix, tag in self._EVIDENCE:
            if lowered.startswith(prefix):
                lookups.append((self.by_name.get(lowered[len(prefix) :], []), tag))
        if lowered.startswith("c:"):
            lookups.append((self.by_name.get(lowered[2:], []), "enclosing"))
        lookups = [(indexes, tag) for indexes, tag in lookups if indexes]
        if not members and not is_self and not lookups:
            return _NO_EFFECT
        return members, is_self, lookups


# A feature that relates the slot to no candidate (most of them).
_Effect = Tuple[List[int], bool, List[Tuple[List[int], str]]]
_NO_EFFECT: _Effect = ([], False, [])

"""``localtypes.labels``: one canonical spelling for each type, whatever the source wrote."""

from __future__ import annotations

import ast
from typing import Dict, Optional

import pytest

from localtypes.labels import LabelError, base_type, normalize, normalize_node


@pytest.mark.parametrize(
    ("annotation", "label"),
    [
        ("List[int]", "list[int]"),
        ("typing.Dict[str, int]", "dict[str, int]"),
        ("Tuple[int, ...]", "tuple[int, ...]"),
        ("FrozenSet[str]", "frozenset[str]"),
        ("Set[bytes]", "set[bytes]"),
        ("Type[Foo]", "type[Foo]"),
        ("Text", "str"),
        ("Deque[int]", "collections.deque[int]"),
        ("DefaultDict[str, int]", "collections.defaultdict[str, int]"),
        ("typing.OrderedDict[str, int]", "collections.OrderedDict[str, int]"),
        ("Counter[str]", "collections.Counter[str]"),
        ("collections.abc.Iterator[int]", "Iterator[int]"),
        ("typing_extensions.Self", "Self"),
        ("Iterator", "Iterator"),  # bare generics stay bare
        ("list", "list"),
    ],
)
def test_typing_aliases_become_builtins(annotation: str, label: str) -> None:
    assert normalize(annotation) == label


@pytest.mark.parametrize(
    ("annotation", "imports", "label"),
    [
        ("beartype.typing.List[str]", {}, "list[str]"),  # a re-export of typing
        ("List[int]", {"List": "beartype.typing.List"}, "list[int]"),
        ("Required[str]", {}, "str"),  # qualifiers are not types
        ("typing_extensions.NotRequired[list[int]]", {}, "list[int]"),
        ("ReadOnly[int]", {}, "int"),
        ("Final[re.Pattern[str]]", {}, "re.Pattern[str]"),
        ("typing.ClassVar[Optional[str]]", {}, "str | None"),
        ("Annotated[int, Gt(0)]", {}, "int"),
        ("Optional[Final[int]]", {}, "int | None"),
    ],
)
def test_labels_are_what_can_be_written(
    annotation: str, imports: Dict[str, str], label: str
) -> None:
    assert normalize(annotation, imports) == label


@pytest.mark.parametrize("annotation", ["Final", "typing.ClassVar", "typing_extensions.Final"])
def test_a_bare_qualifier_names_no_type(annotation: str) -> None:
    with pytest.raises(LabelError, match="names no type"):
        normalize(annotation)


@pytest.mark.parametrize(
    ("annotation", "label"),
    [
        ("Optional[int]", "int | None"),
        ("Optional[Union[int, str]]", "int | str | None"),
        ("Union[None, int, str]", "int | str | None"),  # None last, the rest in order
        ("None | int", "int | None"),
        ("int | None | str", "int | str | None"),
        ("Union[int, Union[str, bytes]]", "int | str | bytes"),  # flattened
        ("Union[int, Optional[str]]", "int | str | None"),
        ("Union[int, int, str]", "int | str"),  # duplicates dropped
        ("Union[str, int]", "str | int"),  # not sorted
        ("Optional[None]", "None"),
        ("Dict[str, Optional[List[int]]]", "dict[str, list[int] | None]"),  # nested too
    ],
)
def test_optional_and_union_become_bars(annotation: str, label: str) -> None:
    assert normalize(annotation) == label


@pytest.mark.parametrize(
    ("annotation", "imports", "label"),
    [
        ("Path", {"Path": "pathlib.Path"}, "pathlib.Path"),
        ("np.ndarray", {"np": "numpy"}, "numpy.ndarray"),
        ("Dict[str, np.ndarray]", {"np": "numpy"}, "dict[str, numpy.ndarray]"),
        ("Optional[P]", {"P": "pathlib.PurePath"}, "pathlib.PurePath | None"),
        ("t.Optional[t.List[int]]", {"t": "typing"}, "list[int] | None"),
        ("abc.Iterator[int]", {"abc": "collections.abc"}, "Iterator[int]"),
        # Relative imports, module classes and unknown names stay as written.
        ("User", {"User": ".models.User"}, "User"),
        ("models.User", {"models": "..models"}, "models.User"),
        ("Outer.Inner", {}, "Outer.Inner"),
        ("Path", None, "Path"),
    ],
)
def test_imports_qualify_names(
    annotation: str, imports: Optional[Dict[str, str]], label: str
) -> None:
    assert normalize(annotation, imports) == label


@pytest.mark.parametrize(
    ("annotation", "label"),
    [
        ("'Foo'", "Foo"),
        ("Optional['Foo']", "Foo | None"),
        ("List['Optional[int]']", "list[int | None]"),
        ("'List[int] | None'", "list[int] | None"),
        ("Union['A', None, 'B']", "A | B | None"),
    ],
)
def test_forward_references_are_parsed(annotation: str, label: str) -> None:
    assert normalize(annotation) == label


def test_forward_references_use_the_imports() -> None:
    assert normalize("'Path'", {"Path": "pathlib.Path"}) == "pathlib.Path"


@pytest.mark.parametrize(
    ("annotation", "label"),
    [
        ("Literal[1, -1, True, None]", "Literal[1, -1, True, None]"),
        # Identifier-like strings lose their quotes (the canonical form the model learnt);
        # other strings keep them.
        ("Literal['r', 'w']", "Literal[r, w]"),
        ("Literal['some text']", "Literal['some text']"),
        ("Literal['']", "Literal['']"),
        ("Optional[Literal[b'x']]", "Literal[b'x'] | None"),
    ],
)
def test_literal_values(annotation: str, label: str) -> None:
    assert normalize(annotation) == label


@pytest.mark.parametrize(
    ("annotation", "label"),
    [
        ("Dict[str,int]", "dict[str, int]"),
        ("  int  ", "int"),
        ("Callable[[int,str],None]", "Callable[[int, str], None]"),
        ("Callable[..., Any]", "Callable[..., Any]"),
    ],
)
def test_spacing_is_fixed(annotation: str, label: str) -> None:
    assert normalize(annotation) == label


@pytest.mark.parametrize(
    ("junk", "message"),
    [
        ("", "not an expression"),
        ("1 +", "not an expression"),
        ("List[int", "not an expression"),
        ("x()", "unsupported annotation node"),
        ("lambda: 1", "unsupported annotation node"),
        ("x if y else z", "unsupported annotation node"),
        ("{}", "unsupported annotation node"),
        ("f'x'", "unsupported annotation node"),
        ("'Foo['", "bad forward reference"),
        ("Optional['(']", "bad forward reference"),
        ("a().b[int]", "not a name"),
    ],
)
def test_junk_raises_label_error(junk: str, message: str) -> None:
    with pytest.raises(LabelError, match=message):
        normalize(junk)


def test_label_error_is_a_value_error() -> None:
    assert issubclass(LabelError, ValueError)


def test_normalize_node_matches_normalize() -> None:
    text = "Optional[Dict[str, np.ndarray]]"
    node = ast.parse(text, mode="eval").body
    imports = {"np": "numpy"}
    assert normalize_node(node, imports) == normalize(text, imports)
    assert normalize_node(node, imports) == "dict[str, numpy.ndarray] | None"


@pytest.mark.parametrize(
    "label",
    ["int", "list[int] | None", "dict[str, list[pathlib.Path]]", "Callable[[int], str]"],
)
def test_canonical_labels_are_fixed_points(label: str) -> None:
    assert normalize(label) == label


@pytest.mark.parametrize(
    ("label", "base"),
    [
        ("int", "int"),
        ("list[int]", "list"),
        ("dict[str, list[int]] | None", "dict | None"),
        ("list[int] | list[str]", "list"),  # members with the same base count once
        ("pathlib.Path", "pathlib.Path"),
        ("collections.deque[int]", "collections.deque"),
        ("Callable[[int], str]", "Callable"),
    ],
)
def test_base_type(label: str, base: str) -> None:
    assert base_type(label) == base

"""Could mypy's inferred return types let ``--verify`` write more, and more precisely?

    python scripts/analyse_inferred_returns.py [--split valid] [--store DIR]

An analysis, not part of localtypes: it measures whether "the checker chooses among the
top-k" (TypeCare) could raise the writer's precision at equal coverage. For each package of
the split (every module, laid out as in the package, with the annotations of parameters
and returns removed; variables keep theirs), localtypes annotates the modules as
``localtypes annotate`` does; then one mypy build (``--check-untyped-defs``) over the
annotated package infers the type of every ``return`` expression. A function's inferred
return is the union of those types (``None`` for a bare ``return``; none when a value is
``Any``, and none for generators and coroutines). It is compared, by names without their
modules, to the authors' annotation and to the model's top 5 guesses:

- of the returns the writer left below the threshold: how many have an inferred type among
  the guesses, and how often that guess is the authors' annotation, by the guess's
  confidence (what promoting them would add);
- of the returns written: how often the inferred type disagrees with the written label, and
  how often the written label was right all the same (what dropping them would cost).

Develop on ``valid`` only (the default); the test split is for the final measurement.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataset import corpus_split_files
from evaluate import strip_signatures

from localtypes.analysis.extract import extract
from localtypes.analysis.slots import SlotKind
from localtypes.api import annotate
from localtypes.model.predictor import OnnxPredictor
from localtypes.model.store import DEFAULT_MODEL_NAME, load_store
from localtypes.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BANDS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 1.01))


def label_of(typ: Any) -> Optional[str]:
    """A mypy type as a label (names keep their modules; builtins and typing lose theirs);
    None when it is or holds no usable type."""
    from mypy import types as mt

    t = mt.get_proper_type(typ)
    if isinstance(t, mt.Instance):
        name = t.type.fullname
        for prefix in ("builtins.", "typing.", "collections.abc."):
            if name.startswith(prefix):
                name = name[len(prefix) :]
        if name == "tuple" and len(t.args) == 1:
            item = label_of(t.args[0])
            return None if item is None else f"tuple[{item}, ...]"
        args = [label_of(a) for a in t.args]
        if not args or any(a is None for a in args):
            return name  # bare when an argument is Any
        return f"{name}[{', '.join(a for a in args if a)}]"
    if isinstance(t, mt.NoneType):
        return "None"
    if isinstance(t, mt.TupleType):
        items = [label_of(i) for i in t.items]
        if any(i is None for i in items):
            return "tuple"
        return f"tuple[{', '.join(i for i in items if i)}]" if items else "tuple[()]"
    if isinstance(t, mt.UnionType):
        members = [label_of(i) for i in t.items]
        if any(m is None for m in members):
            return None
        unique = list(dict.fromkeys(m for m in members if m))
        unique.sort(key=lambda m: m == "None")
        return " | ".join(unique)
    if isinstance(t, mt.LiteralType):
        return label_of(t.fallback)
    if isinstance(t, mt.TypeType):
        item = label_of(t.item)
        return None if item is None else f"type[{item}]"
    return None


def short(label: str) -> str:
    """A label with every dotted name reduced to its last part (``pathlib.Path`` -> ``Path``)."""
    return re.sub(r"[A-Za-z_]\w*\.(?=[A-Za-z_])", "", label)


def _returns(block: Any, out: List[Any]) -> List[Any]:
    """The ``return`` statements of a function body, nested functions and classes left out."""
    from mypy import nodes

    for stmt in block.body:
        if isinstance(stmt, nodes.ReturnStmt):
            out.append(stmt)
        elif not isinstance(
            stmt, (nodes.FuncDef, nodes.Decorator, nodes.ClassDef, nodes.OverloadedFuncDef)
        ):
            for attribute in ("body", "else_body", "finally_body", "handlers", "bodies"):
                value = getattr(stmt, attribute, None)
                blocks = value if isinstance(value, list) else [value]
                for item in blocks:
                    if isinstance(item, nodes.Block):
                        _returns(item, out)
    return out


def _functions(defs: List[Any], prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """(qualified name, FuncDef) of the functions and methods of a module."""
    from mypy import nodes

    for item in defs:
        if isinstance(item, nodes.Decorator):
            item = item.func
        if isinstance(item, nodes.OverloadedFuncDef):
            continue  # several signatures: no single return to compare
        if isinstance(item, nodes.FuncDef):
            yield prefix + item.name, item
            yield from _functions(item.body.body, f"{prefix}{item.name}.")
        elif isinstance(item, nodes.ClassDef):
            yield from _functions(item.defs.body, f"{prefix}{item.name}.")


def inferred_returns(files: List[str]) -> Dict[str, Dict[str, str]]:
    """path -> qualified name -> the inferred return label, over one mypy build."""
    from mypy import build
    from mypy.main import process_options
    from mypy.typeops import make_simplified_union

    sink = io.StringIO()
    sources, options = process_options(
        ["--check-untyped-defs", "--cache-dir", os.devnull, "--config-file", "", *files],
        stdout=sink,
        stderr=sink,
    )
    options.export_types = True
    options.preserve_asts = True  # the trees of the checked modules, to find their returns
    result = build.build(sources, options, stdout=sink, stderr=sink)
    wanted = {str(Path(f).resolve()) for f in files}
    out: Dict[str, Dict[str, str]] = {}
    for state in result.graph.values():
        if state.path is None or state.tree is None:
            continue
        path = str(Path(state.path).resolve())
        if path not in wanted:
            continue
        found: Dict[str, List[str]] = defaultdict(list)
        for qualname, function in _functions(state.tree.defs):
            if function.is_generator or function.is_coroutine:
                continue
            types = []
            for stmt in _returns(function.body, []):
                typ = result.types.get(stmt.expr) if stmt.expr is not None else None
                if stmt.expr is not None and typ is None:
                    break
                types.append(typ if typ is not None else _none())
            else:
                if types:
                    label = label_of(make_simplified_union(types))
                    if label:
                        found[qualname].append(label)
        out[path] = {name: labels[0] for name, labels in found.items() if len(labels) == 1}
    return out


def _none() -> Any:
    from mypy.types import NoneType

    return NoneType()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="valid", choices=("valid", "test"))
    parser.add_argument("--store", default=str(ROOT / "model_store" / DEFAULT_MODEL_NAME))
    args = parser.parse_args(argv)
    store = load_store(args.store)
    predictor = OnnxPredictor(store)
    split_files, _ = corpus_split_files(None)
    by_package: Dict[str, List[str]] = defaultdict(list)
    for package, path in split_files[args.split]:
        by_package[package].append(path)
    settings = Settings(kinds=frozenset({SlotKind.PARAM, SlotKind.RETURN}), target_version=(3, 11))
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="localtypes-inferred-") as folder:
        for package in sorted(by_package):
            paths = sorted(by_package[package])
            base = Path(os.path.commonpath(paths)).parent
            root = Path(folder) / re.sub(r"\W", "_", package)
            modules = []
            for path in paths:
                try:
                    original = Path(path).read_text(encoding="utf-8")
                    truths = {
                        s.key: s.label
                        for s in extract(original).slots
                        if s.kind is SlotKind.RETURN and s.label and s.label != "Any"
                    }
                    stripped = strip_signatures(original)
                    file = root / Path(path).relative_to(base)
                    file.parent.mkdir(parents=True, exist_ok=True)
                    result = annotate(stripped, str(file), settings=settings, predictor=predictor)
                except Exception:  # a module the writer refuses is no evidence either way
                    continue
                file.write_text(result.source, encoding="utf-8")
                modules.append((str(file.resolve()), result, truths))
            try:
                inferred = inferred_returns([path for path, _, _ in modules])
            except Exception as exc:  # mypy crashes on a few packages: reported, skipped
                print(f"{package}: mypy failed ({exc})", file=sys.stderr)
                continue
            for path, result, truths in modules:
                _count(counts, inferred.get(path, {}), result, truths)
            print(f"{package}: {dict(counts)}", file=sys.stderr, flush=True)
    print(json.dumps(dict(counts), indent=1))
    for low, high in BANDS:
        n, right = counts[f"promote_{low}"], counts[f"promote_{low}_right"]
        print(f"below the threshold, inferred type among the guesses, confidence {low}-{high}: "
              f"{n} returns, {right / max(n, 1):.1%} right")  # fmt: skip
    return 0


def _count(counts: Counter[str], inferred: Dict[str, str], result: Any, truths: Any) -> None:
    written = {item.slot.key: item.label for item in result.added}
    for guess in result.guesses:
        key = guess.slot.key
        label = inferred.get(guess.slot.scope)
        if key not in truths or guess.label is None or label is None:
            continue
        truth = truths[key]
        ranked = [(guess.label, guess.confidence), *guess.alternatives]
        matches = [(g, c) for g, c in ranked if short(g) == short(label)]
        counts["returns_inferred"] += 1
        counts["inferred_is_truth"] += short(label) == short(truth)
        if key in written:
            counts["written"] += 1
            counts["written_right"] += written[key] == truth
            if not matches or matches[0][0] != written[key]:
                counts["written_disagrees"] += 1
                counts["written_disagrees_right"] += written[key] == truth
        elif matches:
            match, confidence = matches[0]
            for low, high in BANDS:
                if low <= confidence < high:
                    counts[f"promote_{low}"] += 1
                    counts[f"promote_{low}_right"] += match == truth


if __name__ == "__main__":
    sys.exit(main())

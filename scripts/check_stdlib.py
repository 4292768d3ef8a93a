"""Annotate the whole standard library of this Python and check every result.

For each file: the annotated source compiles, its AST equals the original's once
annotations and added imports are removed, no existing annotation changed, no name became
undefined (pyflakes), and annotating the output again changes nothing. Files are read
from the installation and never written. Prints the counts; exits 1 if any check failed.

    python scripts/check_stdlib.py                      # whole stdlib, the model's threshold
    python scripts/check_stdlib.py --min-confidence 0.2 --limit 200 --target 3.8

``tests/functional/test_stdlib_property.py`` runs ``check_source`` over a fast subset.
"""

from __future__ import annotations

import argparse
import ast
import sys
import sysconfig
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

from localtypes.analysis.slots import SlotKind
from localtypes.api import annotate
from localtypes.errors import LocaltypesError, SourceError
from localtypes.model.predictor import Predictor, default_predictor
from localtypes.run.files import decode_source
from localtypes.settings import Settings

SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__"}


@dataclass
class FileCheck:
    """What happened to one file."""

    status: str  # "unchanged", "changed", "skipped" (cannot be read or parsed), "failed"
    reason: str = ""
    added: Counter[str] = field(default_factory=Counter)  # by slot kind
    rejected: Counter[str] = field(default_factory=Counter)  # by reason
    source: str = ""  # the annotated source (when changed)


def stdlib_files(root: Optional[Path] = None) -> List[Path]:
    """Every ``.py`` file of the standard library, sorted."""
    base = root or Path(sysconfig.get_paths()["stdlib"])
    return sorted(path for path in base.rglob("*.py") if not SKIP_DIRS.intersection(path.parts))


def check_source(source: str, path: str, settings: Settings, predictor: Predictor) -> FileCheck:
    """Annotate one source text and check the safety properties of the result."""
    try:
        result = annotate(source, path, settings=settings, predictor=predictor)
    except SourceError as exc:
        return FileCheck("skipped", f"source: {exc.reason}")
    except LocaltypesError as exc:
        return FileCheck("failed", f"writer refused its own edit: {exc}")
    check = FileCheck("changed" if result.changed else "unchanged", source=result.source)
    check.added.update(item.slot.kind.value for item in result.added)
    check.rejected.update(item.reason for item in result.skipped)
    if not result.changed:
        return check
    problem = verify(source, result.source, path)
    if problem is None:
        again = annotate(result.source, path, settings=settings, predictor=predictor)
        if again.changed:
            problem = "not idempotent: a second run changed the file"
    if problem is not None:
        return FileCheck("failed", problem, check.added, check.rejected)
    return check


def verify(old: str, new: str, path: str) -> Optional[str]:
    """The first broken property of an edit, or None (independent of the writer's checks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(new, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            return f"does not compile: {exc}"
        old_tree, new_tree = ast.parse(old), ast.parse(new)
    old_annotations = Counter(_annotations(old_tree))
    if old_annotations - Counter(_annotations(new_tree)):
        return "an existing annotation changed"
    undefined_before = _undefined(old_tree, path)
    became = _undefined(new_tree, path) - undefined_before
    if became:
        return f"new undefined names: {sorted(became)}"
    _drop_new_imports(old_tree, new_tree)
    if ast.dump(_Strip().visit(old_tree)) != ast.dump(_Strip().visit(new_tree)):
        return "AST differs beyond annotations and imports"
    return None


def _annotations(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            yield ast.dump(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            yield ast.dump(node.returns)
        elif isinstance(node, ast.AnnAssign):
            yield ast.dump(node.annotation)


def _undefined(tree: ast.Module, path: str) -> Counter[str]:
    from pyflakes import checker, messages  # type: ignore[import-untyped]

    found: Counter[str] = Counter()
    for message in checker.Checker(tree, filename=path).messages:
        if isinstance(message, messages.UndefinedName):
            found[str(message.message_args[0])] += 1
    return found


def _import_aliases(tree: ast.Module) -> Iterator[Tuple[ast.stmt, ast.alias, Tuple[str, str]]]:
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                yield stmt, alias, ("", alias.name)
        elif isinstance(stmt, ast.ImportFrom) and stmt.level == 0:
            for alias in stmt.names:
                yield stmt, alias, (stmt.module or "", alias.name)


def _drop_new_imports(old: ast.Module, new: ast.Module) -> None:
    """Remove from ``new`` the top-level import names ``old`` does not have."""
    have = Counter(key for _, _, key in _import_aliases(old))
    for stmt, alias, key in list(_import_aliases(new)):
        if have[key]:
            have[key] -= 1
        elif alias.asname is None and isinstance(stmt, (ast.Import, ast.ImportFrom)):
            stmt.names.remove(alias)
    new.body = [
        stmt
        for stmt in new.body
        if not (isinstance(stmt, (ast.Import, ast.ImportFrom)) and not stmt.names)
    ]


class _Strip(ast.NodeTransformer):
    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AsyncFunctionDef:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.stmt:
        self.generic_visit(node)
        if node.value is None:
            return ast.Pass()
        return ast.Assign(targets=[node.target], value=node.value)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="a folder instead of the stdlib")
    parser.add_argument("--limit", type=int, default=0, help="only the first N files")
    parser.add_argument("--min-confidence", type=float, default=None)
    parser.add_argument("--target", default=None, help="oldest Python, e.g. 3.8")
    parser.add_argument("--kinds", default="param,return", help="e.g. param,return,variable")
    parser.add_argument("--model", default=None, help="model store folder")
    args = parser.parse_args(argv)
    target = None
    if args.target:
        major, minor = args.target.split(".")
        target = (int(major), int(minor))
    settings = Settings(
        model=args.model,
        min_confidence=args.min_confidence,
        kinds=frozenset(SlotKind(kind) for kind in args.kinds.split(",")),
        target_version=target,
    )
    predictor = default_predictor(args.model)
    files = stdlib_files(args.root)
    if args.limit:
        files = files[: args.limit]
    return run(files, settings, predictor)


def run(files: Sequence[Path], settings: Settings, predictor: Predictor) -> int:
    """Check every file and print the counts; 1 if any check failed."""
    started = time.perf_counter()
    statuses: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    added: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    failures: List[Tuple[Path, str]] = []
    lines = 0
    for number, path in enumerate(files, 1):
        try:
            decoded = decode_source(path.read_bytes())
        except (OSError, SourceError) as exc:
            statuses["skipped"] += 1
            skipped[f"read: {exc}"[:60]] += 1
            print(f"skipped {path}: {exc}", file=sys.stderr)
            continue
        lines += decoded.text.count("\n")
        check = check_source(decoded.text, str(path), settings, predictor)
        statuses[check.status] += 1
        added.update(check.added)
        rejected.update(check.rejected)
        if check.status == "skipped":
            skipped[check.reason[:60]] += 1
            print(f"skipped {path}: {check.reason}", file=sys.stderr)
        elif check.status == "failed":
            failures.append((path, check.reason))
            print(f"FAILED {path}: {check.reason}", file=sys.stderr)
        if number % 100 == 0:
            print(f"... {number}/{len(files)} files", file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(f"model: {predictor.info.name} {predictor.info.version}")
    print(f"files: {len(files)} ({lines} lines) in {elapsed:.1f} s")
    ok = statuses["changed"] + statuses["unchanged"]
    print(f"ok: {ok} (changed {statuses['changed']}, unchanged {statuses['unchanged']})")
    print(f"skipped: {statuses['skipped']}")
    for reason, count in skipped.most_common():
        print(f"  {count:6d}  {reason}")
    print(f"failed: {len(failures)}")
    for path, reason in failures[:50]:
        print(f"  {path}: {reason}")
    print(f"annotations added: {sum(added.values())} ({dict(sorted(added.items()))})")
    print("slots left out, by reason:")
    for reason, count in rejected.most_common():
        print(f"  {count:6d}  {reason}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""The project a run's files belong to: its index, built once per run and cached.

Every Python module under the project root that the walk takes (not only the files named
on the command line) is read; the project index (``localtypes.analysis.project``) turns
their call sites into cross-file evidence for each selected file. The evidence is small
and picklable, so worker processes get it with their files. It is cached by the bytes of
every module of the project and this code's fingerprint: a re-run over an unchanged tree
reads the cache; a change anywhere rebuilds it, since a call site in one file is evidence
for another.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from localtypes.analysis.project import ModuleFacts, ProjectIndex
from localtypes.errors import SourceError
from localtypes.run.discovery import Walker
from localtypes.run.files import atomic_write, decode_source
from localtypes.settings import code_fingerprint

FORMAT = 1
MAX_MODULE_BYTES = 2_000_000  # generated giants: skipped as evidence (still annotated)


def facts_digest(facts: ModuleFacts) -> str:
    """A short digest of one file's evidence (part of its result's cache key)."""
    if not facts:
        return ""
    text = json.dumps(sorted([list(key), list(value)] for key, value in facts.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Evidence:
    """The project's evidence: per file of the run (keyed as the run names it), and per
    module of the project (relative path)."""

    files: Dict[str, ModuleFacts]
    modules: Dict[str, ModuleFacts]


# Whether a module found under a project's root belongs to it (a monorepo's sub-project
# below that root is a project of its own).
Belongs = Callable[[str], bool]


def project_facts(
    root: Path,
    walker: Walker,
    files: Sequence[str],
    cache_dir: Optional[Path],
    belongs: Optional[Belongs] = None,
) -> Evidence:
    """Cross-file evidence for each of ``files`` from every module the walker takes under
    ``root`` (that ``belongs`` to the project), read from the cache when the project's
    modules are byte for byte known."""
    modules = _modules(root, walker, files, belongs)
    cache = _cache_file(cache_dir, modules)
    every = _read(cache) if cache is not None else None
    if every is None:
        every = _build(modules)
        if cache is not None:
            _write(cache, every)
    out: Dict[str, ModuleFacts] = {}
    for relative, (path, _) in modules.items():
        if path in files:
            out[path] = every.get(relative, {})
    return Evidence(out, every)


def remember_written(
    root: Path,
    walker: Walker,
    files: Sequence[str],
    cache_dir: Optional[Path],
    evidence: Evidence,
    belongs: Optional[Belongs] = None,
) -> None:
    """After a run wrote annotations: file its evidence under the tree as it is now.

    Annotations and the imports they need change no call site, so the evidence of the
    tree before the run is the evidence of the tree after it; without this, a re-run over
    what was just annotated would read and parse every module again.
    """
    cache = _cache_file(cache_dir, _modules(root, walker, files, belongs))
    if cache is not None and not cache.exists():
        _write(cache, evidence.modules)


def _cache_file(cache_dir: Optional[Path], modules: Dict[str, Tuple[str, bytes]]) -> Optional[Path]:
    if cache_dir is None:
        return None
    digest = hashlib.sha256(f"{FORMAT}\0{code_fingerprint()}".encode())
    for relative, (_, data) in sorted(modules.items()):
        digest.update(relative.encode() + b"\0" + hashlib.sha256(data).digest())
    return cache_dir / "project" / f"{digest.hexdigest()[:32]}.json"


def _modules(
    root: Path, walker: Walker, files: Sequence[str], belongs: Optional[Belongs] = None
) -> Dict[str, Tuple[str, bytes]]:
    """Relative posix path -> (the path as the run names it, bytes) of every module."""
    found: Dict[str, Tuple[str, bytes]] = {}
    named = {os.path.realpath(path): path for path in files}
    every = [str(path) for path in walker.select([str(root)]).files]
    if belongs is not None:
        every = [path for path in every if belongs(path)]
    for path in [*files, *every]:
        real = os.path.realpath(path)
        try:
            relative = Path(real).relative_to(root.resolve()).as_posix()
        except ValueError:
            relative = Path(path).name  # outside the root: alone, by its name
        if relative in found or not relative.endswith((".py", ".pyi")):
            continue
        try:
            data = Path(real).read_bytes()
        except OSError:
            continue  # the run reports unreadable files it was asked for
        if len(data) <= MAX_MODULE_BYTES:
            found[relative] = (named.get(real, path), data)
    return found


def _build(modules: Dict[str, Tuple[str, bytes]]) -> Dict[str, ModuleFacts]:
    sources: Dict[str, str] = {}
    for relative, (_, data) in modules.items():
        try:
            sources[relative] = decode_source(data).text
        except SourceError:
            continue  # a module that cannot be decoded is evidence of nothing
    try:
        project = ProjectIndex.from_sources(sources)
    except RecursionError:
        return {}
    return {relative: project.facts(relative) for relative in project.modules}


def _read(cache: Path) -> Optional[Dict[str, ModuleFacts]]:
    try:
        document = json.loads(cache.read_bytes())
        return {
            relative: {(str(q), int(o), str(n)): tuple(map(str, f)) for q, o, n, f in entries}
            for relative, entries in document.items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # missing or damaged (any shape of JSON): rebuilt


def _write(cache: Path, every: Dict[str, ModuleFacts]) -> None:
    document: Dict[str, List[object]] = {
        relative: [[*key, list(value)] for key, value in facts.items()]
        for relative, facts in every.items()
    }
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cache, json.dumps(document).encode("utf-8"), fsync=False)
    except OSError:
        pass  # a cache that cannot be written is skipped, as results are

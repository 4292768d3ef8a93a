"""mypy, run in this process through its API, over a project whose files may be given as text.

The project's own configuration (``mypy.ini``, ``.mypy.ini``, ``[tool.mypy]`` of
pyproject.toml, ``[mypy]`` of setup.cfg, at the project root) and its Python environment
(``--python-executable``) apply; on top of them every body is checked
(``--check-untyped-defs``) so that a baseline and an annotated run see the same code.

mypy checks a mirror of the project's files in localtypes' cache folder: mypy validates a
cached module against the file on disk, so texts given in memory would be checked against
stale results. The baseline and the annotated texts take turns in one mirror, which
rewrites only the files whose text changed, with one incremental cache: the standard
library and unchanged modules are analysed once, and each check re-analyses only the files
it changed and what depends on them. (mypy's fine-grained mode, dmypy's engine, would
re-analyse less, but it does not report what a full build does: after an update it lost
errors of modules the update did not touch, on the writer's test files with mypy 2.4.)
"""

from __future__ import annotations

import configparser
import hashlib
import io
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from localtypes.errors import LocaltypesError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9/3.10 only
    import tomli as tomllib

# mypy keeps module-level state (its plugin registry, caches of the file system): one
# build at a time in a process. The mirror too: two checkers may share it (the service).
_LOCK = threading.Lock()
_LINE = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+):(?:\d+:)? (?P<severity>error|note|warning): "
    r"(?P<message>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$"
)
_VENVS = (".venv", "venv", "env", ".env")


class CheckerError(LocaltypesError):
    """mypy could not run over the project (a bad configuration, a missing Python)."""


@dataclass(frozen=True)
class Diagnostic:
    """One error mypy reports: where (absolute path, 1-based line), its code and message."""

    path: str
    line: int
    code: str
    message: str


def project_python(root: Path) -> str:
    """The project's Python: the active virtualenv, else one at the project root, else the
    one running localtypes (as mypy itself assumes)."""
    active = os.environ.get("VIRTUAL_ENV")
    candidates = [Path(active)] if active else []
    candidates.extend(root / name for name in _VENVS)
    for folder in candidates:
        for name in ("bin/python", "Scripts/python.exe"):
            if (folder / "pyvenv.cfg").is_file() and (folder / name).exists():
                return str(folder / name)
    return sys.executable


def mypy_config(root: Path) -> Optional[Path]:
    """The project's mypy configuration file, as mypy would pick it at the root."""
    for name in ("mypy.ini", ".mypy.ini"):
        if (root / name).is_file():
            return root / name
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            if "mypy" in data.get("tool", {}):
                return pyproject
        except (OSError, ValueError):
            pass
    setup_cfg = root / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(setup_cfg, encoding="utf-8")
            if parser.has_section("mypy"):
                return setup_cfg
        except (configparser.Error, UnicodeDecodeError):
            pass
    return None


class Checker:
    """mypy over ``files`` of the project at ``root`` (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        files: Sequence[str],
        cache_base: Path,
        python: Optional[str] = None,
        key: Optional[str] = None,
    ) -> None:
        import mypy.version

        self.root = root.resolve()
        self.files = sorted({str(Path(f).resolve()) for f in files})
        self.python = python or project_python(self.root)
        self.config = mypy_config(self.root)
        # ``key`` names the mirror and its cache in place of the root (a temporary root)
        parts = [key or str(self.root), self.python, str(self.config), mypy.version.__version__]
        key = "\0".join(parts)
        self.cache_dir = cache_base / hashlib.sha256(key.encode()).hexdigest()[:20]
        self.runs = 0
        self._spec = (str(self.root), self.files, str(cache_base), self.python, parts[0])

    @property
    def _tree(self) -> Path:
        return self.cache_dir / "mirror" / "src"

    def warm(self) -> subprocess.Popen[bytes]:
        """Check the project as it is on disk in another process now (the model works
        meanwhile, on another core): the first ``check`` then finds mypy's cache warm."""
        import json

        package = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": package + (os.pathsep + path if path else "")}
        return subprocess.Popen(
            [sys.executable, "-c", "from localtypes.verify.checker import _warm; _warm()",
             json.dumps(self._spec)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env,
        )  # fmt: skip

    def _arguments(self, files: Sequence[str]) -> List[str]:
        args = [
            "--check-untyped-defs",
            "--cache-dir", str(self.cache_dir / "mypy-cache"),
            "--python-executable", self.python,
            "--no-error-summary", "--show-error-codes", "--hide-error-context",
            "--no-pretty", "--show-absolute-path", "--no-color-output",
            "--soft-error-limit", "-1",
        ]  # fmt: skip
        # no configuration of the project: none at all (not one mypy finds in our cwd)
        args += ["--config-file", str(self.config) if self.config is not None else ""]
        return args + list(files)

    def check(self, texts: Mapping[str, bytes]) -> List[Diagnostic]:
        """mypy's errors over the project, with ``texts`` (absolute path -> bytes) in
        place of those files' contents on disk."""
        from mypy import build
        from mypy.errors import CompileError
        from mypy.main import process_options

        given: Dict[str, bytes] = {str(Path(p).resolve()): t for p, t in texts.items()}
        sink = io.StringIO()
        with _LOCK:
            mirrored = self._mirror(self._tree, given)
            try:
                sources, options = process_options(
                    self._arguments(sorted(mirrored)), stdout=sink, stderr=sink
                )
            except SystemExit:
                raise CheckerError(f"mypy cannot start: {sink.getvalue().strip()}") from None
            try:
                lines = build.build(sources, options, stdout=sink, stderr=sink).errors
            except CompileError as exc:
                lines = exc.messages
            finally:
                self.runs += 1
        out: List[Diagnostic] = []
        for line in dict.fromkeys(lines):  # mypy repeats some (a missing import of a cached module)
            match = _LINE.match(line)
            if match is None or match.group("severity") != "error":
                continue
            path = self._real(match.group("path"), mirrored)
            out.append(
                Diagnostic(
                    path,
                    int(match.group("line")),
                    match.group("code") or "",
                    match.group("message"),
                )
            )
        return out

    def _real(self, path: str, mirrored: Mapping[str, str]) -> str:
        """The project's path of a mirror's file."""
        if path in mirrored:
            return mirrored[path]
        try:
            relative = Path(path).relative_to(self._tree)
        except ValueError:
            return path
        return str(self.root / relative)

    def _mirror(self, mirror: Path, given: Mapping[str, bytes]) -> Dict[str, str]:
        """Write the project's files under ``mirror`` (only those whose text changed);
        return mirror path -> real path."""
        mirrored: Dict[str, str] = {}
        for real in self.files:
            try:
                relative = Path(real).relative_to(self.root)
            except ValueError:
                continue
            data = given.get(real)
            if data is None:
                try:
                    data = Path(real).read_bytes()
                except OSError:
                    continue
            target = mirror / relative
            try:
                if not target.is_file():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                elif target.read_bytes() != data:
                    _rewrite(target, data)
            except OSError as exc:
                raise CheckerError(f"cannot write the checker's copy of {real}: {exc}") from exc
            mirrored[str(target)] = real
        keep = set(mirrored)
        if mirror.is_dir():
            for stale in mirror.rglob("*"):
                if stale.is_file() and str(stale) not in keep:
                    stale.unlink(missing_ok=True)
        return mirrored


def _rewrite(target: Path, data: bytes) -> None:
    """Write ``data`` over the file with a later modification time, in whole seconds: a
    classic build trusts a cached module whose file has the size and the time (to the
    second) it recorded, and a new annotation may keep the size (``int`` for ``str``)."""
    before = int(target.stat().st_mtime)
    target.write_bytes(data)
    stamp = max(time.time(), before + 1.0)
    os.utime(target, (stamp, stamp))


def _warm() -> None:
    """``Checker.warm``'s process."""
    import json

    root, files, cache_base, python, key = json.loads(sys.argv[1])
    Checker(Path(root), files, Path(cache_base), python, key=key).check({})

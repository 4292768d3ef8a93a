"""Per-file results, so that a second run over an unchanged tree is nearly free.

An entry is keyed by the sha256 of a file's bytes, inside a folder keyed by everything
else that decides the output (localtypes version, model checksum, threshold, kinds,
target version). It says either "these bytes are final" or "these bytes become those
bytes", with the counts the summary needs. Entries are written atomically; an entry that
cannot be read or does not check out is treated as missing, never as an error.

An entry can say to write any bytes into a file, so the cache is used only from folders
that no one else can write: ``Cache.open`` creates its folders for the user alone (0700)
and refuses (``UnsafeCacheError``) a folder that another user owns or may write to, as
pip and git refuse such folders. The runner also holds every output it reads here to the
checks a fresh one passes (``localtypes.api.check_annotated``).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from localtypes.run.files import atomic_write
from localtypes.run.records import SlotRecord, records_from_json, records_to_json

FORMAT = 1


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_key(data: bytes, salt: str = "") -> str:
    """The entry key of a file's bytes; ``salt`` is what else decides its result (the
    digest of its project evidence: a call site elsewhere changes what is written here)."""
    return sha256_bytes(data) if not salt else sha256_bytes(data + b"\0" + salt.encode())


def default_cache_dir() -> Path:
    """The user's cache folder for localtypes (platformdirs)."""
    import platformdirs  # only runs that use the cache pay for the import

    return Path(platformdirs.user_cache_dir("localtypes", appauthor=False))


@dataclass(frozen=True)
class CacheEntry:
    """What annotate did to one content: nothing (``output`` is None) or these new bytes."""

    output: Optional[bytes]
    added: Tuple[Tuple[str, int], ...] = ()
    below_threshold: int = 0
    # What happened to each slot (``localtypes.run.records``), so that a cached file still
    # reports them; None when unknown (an output filed as final, an older entry).
    records: Optional[Tuple[SlotRecord, ...]] = None

    @property
    def changed(self) -> bool:
        return self.output is not None


class UnsafeCacheError(Exception):
    """A cache folder that someone else owns or may write to: it is not used."""


def unsafe_folder(path: Path) -> Optional[str]:
    """Why another user could plant entries in the existing folder ``path``, or None.

    It must be owned by this user (root's by root) and writable by no one else: neither
    by all, nor by its group unless that is the user's own group. A symbolic link is
    judged with its target, and must be this user's too.
    """
    try:
        link = os.lstat(path)
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be checked ({exc.strerror or exc})"
    if not hasattr(os, "geteuid"):  # Windows: no owners to compare (ACLs decide)
        return None
    me = os.geteuid()
    for item in (link, info):
        if item.st_uid != me:
            return f"is owned by someone else (uid {item.st_uid})"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if info.st_mode & stat.S_IWOTH or (info.st_mode & stat.S_IWGRP and info.st_gid != os.getegid()):
        return f"is writable by others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


class Cache:
    """A folder of entries for one settings key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def open(cls, cache_dir: Optional[str], key: str) -> Cache:
        """The entries for one settings key (``Settings.cache_key``) under ``cache_dir``.

        Creates the folders (for this user alone) and raises ``UnsafeCacheError`` when
        one of them belongs to someone else or others may write to it.
        """
        base = Path(cache_dir) if cache_dir else default_cache_dir()
        folder = base / f"v{FORMAT}" / key
        levels = (base, base / f"v{FORMAT}", folder)
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
            for path in levels:
                path.mkdir(exist_ok=True, mode=0o700)
        except OSError:
            pass  # an unwritable cache is only not written (``put``)
        for path in levels:
            problem = unsafe_folder(path)
            if problem is not None:
                raise UnsafeCacheError(
                    f"the cache folder {path} {problem}: the cache is not used "
                    "(make it yours and writable by you alone, or choose another cache-dir)"
                )
        return cls(folder)

    def _path(self, content_sha: str) -> Path:
        return self.folder / content_sha[:2] / content_sha

    def get(self, content_sha: str) -> Optional[CacheEntry]:
        """The entry for these bytes, or None when missing or damaged."""
        try:
            data = self._path(content_sha).read_bytes()
            header, _, output = data.partition(b"\n")
            meta = json.loads(header)
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                return None
            added = tuple((str(kind), int(count)) for kind, count in meta["added"])
            below = int(meta["below"])
            records = records_from_json(meta.get("records"))
            if meta["output_sha256"] is None:
                return CacheEntry(None, added, below, records)
            if sha256_bytes(output) != meta["output_sha256"]:
                return None  # truncated or edited: recompute
            return CacheEntry(output, added, below, records)
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None  # RecursionError: a header of nested brackets

    def put(self, content_sha: str, entry: CacheEntry) -> None:
        """Store an entry atomically; a cache that cannot be written is silently skipped."""
        meta = {
            "format": FORMAT,
            "added": [list(pair) for pair in entry.added],
            "below": entry.below_threshold,
            "output_sha256": None if entry.output is None else sha256_bytes(entry.output),
            "records": records_to_json(entry.records),
        }
        data = json.dumps(meta).encode("utf-8") + b"\n" + (entry.output or b"")
        path = self._path(content_sha)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(path, data, fsync=False)  # a lost entry is only recomputed
        except OSError:
            pass

    def put_result(
        self,
        content_sha: str,
        output: Optional[bytes],
        added: Tuple[Tuple[str, int], ...],
        below_threshold: int,
        salt: str = "",
        records: Optional[Tuple[SlotRecord, ...]] = None,
    ) -> None:
        """Record a file's result, and that its output (if any) is final in turn (under
        the same ``salt``: see ``content_key``). The output's records are not known (its
        lines moved): a report asked of it recomputes it once, and files them then."""
        self.put(content_sha, CacheEntry(output, added, below_threshold, records))
        if output is not None and self.get(content_key(output, salt)) is None:
            self.put(content_key(output, salt), CacheEntry(None, (), below_threshold))

"""The result cache: round trips, keys, and damaged entries read as missing."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from localtypes.analysis.slots import SlotKind
from localtypes.run.cache import Cache, CacheEntry, UnsafeCacheError, sha256_bytes, unsafe_folder
from localtypes.settings import Settings


def test_round_trip_and_output_marked_final(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path), Settings().cache_key("abc", 0.5))
    old, new = b"def f(x): pass\n", b"def f(x: int) -> None: pass\n"
    cache.put_result(sha256_bytes(old), new, (("param", 1), ("return", 1)), 2)
    entry = cache.get(sha256_bytes(old))
    assert entry == CacheEntry(new, (("param", 1), ("return", 1)), 2)
    final = cache.get(sha256_bytes(new))
    assert final is not None and not final.changed
    assert cache.get(sha256_bytes(b"other")) is None


def test_key_changes_with_every_setting_that_decides_the_output() -> None:
    base = Settings(min_confidence=0.5, kinds=frozenset({SlotKind.PARAM}), target_version=(3, 9))
    key = base.cache_key("abc", 0.7)
    changed = {
        "model": base.cache_key("abd", 0.7),
        "min_confidence": dataclasses.replace(base, min_confidence=0.6).cache_key("abc", 0.7),
        "kinds": dataclasses.replace(
            base, kinds=frozenset({SlotKind.PARAM, SlotKind.RETURN})
        ).cache_key("abc", 0.7),
        "target_version": dataclasses.replace(base, target_version=(3, 10)).cache_key("abc", 0.7),
    }
    assert all(other != key for other in changed.values()), changed
    # With no min_confidence, the model's own threshold decides, so it is part of the key.
    default = dataclasses.replace(base, min_confidence=None)
    assert default.cache_key("abc", 0.7) != default.cache_key("abc", 0.8)
    assert default.cache_key("abc", 0.5) == key
    # Settings that do not change what is written do not split the cache.
    same = dataclasses.replace(base, jobs=3, cache_dir="/elsewhere", port=1, top_k=3)
    assert same.cache_key("abc", 0.7) == key


def test_damaged_entries_are_ignored(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path), Settings().cache_key("abc", 0.5))
    sha = sha256_bytes(b"x = 1\n")
    cache.put_result(sha, b"x: int = 1\n", (("variable", 1),), 0)
    path = cache.folder / sha[:2] / sha
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # truncated output
    assert cache.get(sha) is None
    path.write_bytes(b"\x00garbage")
    assert cache.get(sha) is None
    path.write_bytes(b'{"format": 1}\n')  # fields missing
    assert cache.get(sha) is None


def test_entries_are_written_whole_with_no_temporary_files_left(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "key")
    sha = sha256_bytes(b"x = 1\n")
    for output in (b"x: int = 1\n", b"x: float = 1\n"):  # the second replaces the first
        cache.put(sha, CacheEntry(output, (("variable", 1),), 0))
        assert cache.get(sha) == CacheEntry(output, (("variable", 1),), 0)
    assert [p.name for p in (tmp_path / "key").rglob("*") if p.is_file()] == [sha]


def test_unwritable_cache_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    cache = Cache(blocker / "sub")
    cache.put(sha256_bytes(b""), CacheEntry(None))  # no exception
    assert cache.get(sha256_bytes(b"")) is None


def test_odd_headers_are_damaged_entries_not_errors(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path), Settings().cache_key("abc", 0.5))
    sha = sha256_bytes(b"x = 1\n")
    path = cache.folder / sha[:2] / sha
    path.parent.mkdir(parents=True)
    for header in (b"[1]", b"1", b'"format"', b"[" * 100_000, b'{"format": 1, "added": 3}'):
        path.write_bytes(header + b"\nx: int = 1\n")
        assert cache.get(sha) is None, header[:20]


def test_cache_folders_are_created_for_the_user_alone(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path / "cache"), "key")
    for folder in (tmp_path / "cache", tmp_path / "cache" / "v1", cache.folder):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    cache.put(sha256_bytes(b""), CacheEntry(None))
    entry = next(path for path in cache.folder.rglob("*") if path.is_file())
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


@pytest.mark.parametrize("where", ["base", "v1", "key"])
def test_a_cache_folder_others_may_write_to_is_refused(tmp_path: Path, where: str) -> None:
    base = tmp_path / "cache"
    Cache.open(str(base), "key")
    folder = {"base": base, "v1": base / "v1", "key": base / "v1" / "key"}[where]
    os.chmod(folder, 0o777)
    with pytest.raises(UnsafeCacheError, match="is writable by others"):
        Cache.open(str(base), "key")
    os.chmod(folder, 0o700)
    Cache.open(str(base), "key")


def test_a_group_writable_folder_is_refused_unless_the_group_is_the_users(tmp_path: Path) -> None:
    base = tmp_path / "cache"
    base.mkdir(mode=0o770)
    os.chmod(base, 0o770)
    Cache.open(str(base), "key")  # the user's own group
    if os.geteuid() != 0:
        pytest.skip("giving a folder another group needs root")
    os.chown(base, -1, 65534)
    with pytest.raises(UnsafeCacheError, match="is writable by others"):
        Cache.open(str(base), "key")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder another owner needs root")
def test_a_cache_folder_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "cache"
    base.mkdir(mode=0o755)
    os.chown(base, 65534, 65534)
    with pytest.raises(UnsafeCacheError, match=r"is owned by someone else \(uid 65534\)"):
        Cache.open(str(base), "key")
    assert unsafe_folder(base) == "is owned by someone else (uid 65534)"
    # a link of one's own to someone else's folder is judged by the folder
    (tmp_path / "link").symlink_to(base)
    assert unsafe_folder(tmp_path / "link") == "is owned by someone else (uid 65534)"

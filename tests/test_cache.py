"""The result cache: round trips, keys, and damaged entries read as missing."""

from __future__ import annotations

from pathlib import Path

from localtypes.run.cache import Cache, CacheEntry, settings_key, sha256_bytes


def test_round_trip_and_output_marked_final(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path), {"model": "abc"})
    old, new = b"def f(x): pass\n", b"def f(x: int) -> None: pass\n"
    cache.put_result(sha256_bytes(old), new, (("param", 1), ("return", 1)), 2)
    entry = cache.get(sha256_bytes(old))
    assert entry == CacheEntry(new, (("param", 1), ("return", 1)), 2)
    final = cache.get(sha256_bytes(new))
    assert final is not None and not final.changed
    assert cache.get(sha256_bytes(b"other")) is None


def test_key_depends_on_every_setting() -> None:
    base = {"model": "abc", "min_confidence": 0.5, "kinds": ["param"], "target_version": [3, 9]}
    keys = {settings_key(base)}
    for name, value in [("model", "abd"), ("min_confidence", 0.6), ("target_version", [3, 10])]:
        keys.add(settings_key({**base, name: value}))
    assert len(keys) == 4


def test_damaged_entries_are_ignored(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path), {"model": "abc"})
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


def test_unwritable_cache_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    cache = Cache(blocker / "sub")
    cache.put(sha256_bytes(b""), CacheEntry(None))  # no exception
    assert cache.get(sha256_bytes(b"")) is None

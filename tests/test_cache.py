"""jaxsep.cache: content keys, round trips, force, and atomic writes that survive a kill."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from jaxsep import cache as cache_module
from jaxsep.cache import Cache, cache_key, default_cache_dir


def test_keys_change_with_every_part_and_not_with_order():
    base = cache_key(audio="abc", start=1.5, separator={"name": "dsp", "signature": "v1"})
    assert base == cache_key(separator={"signature": "v1", "name": "dsp"}, start=1.5, audio="abc")
    assert len({base, cache_key(audio="abd", start=1.5, separator={"name": "dsp", "signature": "v1"}),
                cache_key(audio="abc", start=1.6, separator={"name": "dsp", "signature": "v1"}),
                cache_key(audio="abc", start=1.5, separator={"name": "dsp", "signature": "v2"})}) == 4


def test_file_digest_is_the_content_hash(tmp_path):
    first = tmp_path / "a.wav"
    first.write_bytes(b"some audio bytes" * 1000)
    copy = tmp_path / "renamed.flac"
    shutil.copy(first, copy)
    cache = Cache(tmp_path / "cache")
    assert cache.file_digest(first) == hashlib.sha256(first.read_bytes()).hexdigest() == cache.file_digest(copy)
    first.write_bytes(b"other bytes")
    assert cache.file_digest(first) != cache.file_digest(copy)  # size/mtime changed: hashed again


def test_round_trip_force_and_corrupt_entries(tmp_path):
    cache = Cache(tmp_path)
    arrays = {"mix": np.arange(6, dtype=np.float32).reshape(2, 3), "start": np.float64(2.5)}
    assert cache.load("stems", "ab12") is None
    path = cache.save("stems", "ab12", arrays)
    assert path == tmp_path / "stems" / "ab" / "ab12.npz" and cache.entries("stems") == [path]
    loaded = cache.load("stems", "ab12")
    np.testing.assert_array_equal(loaded["mix"], arrays["mix"])
    assert float(loaded["start"]) == 2.5
    assert Cache(tmp_path, force=True).load("stems", "ab12") is None
    path.write_bytes(b"PK\x03\x04 half a zip")
    assert cache.load("stems", "ab12") is None  # unreadable counts as missing, gets rewritten


def test_killed_write_leaves_the_old_entry_and_no_temporary(tmp_path, monkeypatch):
    cache = Cache(tmp_path)
    cache.save("maps", "cd34", {"maps": np.ones(3)})

    def killed(stream, **arrays):
        stream.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module.np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.save("maps", "cd34", {"maps": np.zeros(3)})
    np.testing.assert_array_equal(cache.load("maps", "cd34")["maps"], np.ones(3))
    assert [p.name for p in (tmp_path / "maps" / "cd").iterdir()] == ["cd34.npz"]


def test_a_cache_that_cannot_be_used_is_named_before_any_work(tmp_path):
    from jaxsep.errors import CacheError

    (tmp_path / "a-file").write_text("x")
    for root in (tmp_path / "a-file", tmp_path / "a-file" / "below"):
        with pytest.raises(CacheError, match=f"{root}: cannot be used as the cache folder"):
            Cache(root).ensure_folder()
    Cache(tmp_path / "new" / "cache").ensure_folder()  # created
    assert list((tmp_path / "new" / "cache").iterdir()) == []


def test_files_get_the_usual_mode_not_a_private_one(tmp_path):
    from jaxsep.atomic import _UMASK, write_text_atomic

    fresh = write_text_atomic(tmp_path / "fresh.txt", "a")
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~_UMASK
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    write_text_atomic(kept, "new")
    assert kept.stat().st_mode & 0o777 == 0o640 and kept.read_text() == "new"


def test_default_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXSEP_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere" and Cache().root == tmp_path / "elsewhere"
    monkeypatch.delenv("JAXSEP_CACHE")
    assert default_cache_dir().name == ".jaxsep-cache"

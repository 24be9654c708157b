"""Feature file: round trip, and every bad input raises FeatureFileError naming the file and the problem."""

import json

import numpy as np
import pytest

from jaxsep.errors import FeatureFileError
from jaxsep.features.file import load_features, save_features
from jaxsep.features.toy import toy_features


def _arrays(**changes):
    f = toy_features(songs_per_class=(3, 3), n_mels=8, frames=6)
    arrays = dict(mels=f.mels, maps=np.array(f.maps), labels=f.labels, classes=np.array(f.classes),
                  song_ids=np.array(f.song_ids), meta=np.array(json.dumps(f.meta)))
    arrays.update(changes)
    return arrays


def _write(tmp_path, **changes):
    path = tmp_path / "features.npz"
    np.savez(path, **_arrays(**changes))
    return path


def test_round_trip_float16(tmp_path):
    f = toy_features(songs_per_class=(3, 4), n_mels=8, frames=6, dtype=np.float16)
    path = save_features(tmp_path / "f.npz", mels=f.mels, maps=f.maps, labels=f.labels, classes=f.classes,
                         song_ids=f.song_ids, meta=f.meta)
    loaded = load_features(path, ["bass", "novox"])
    assert loaded.mels.dtype == np.float16
    np.testing.assert_array_equal(loaded.mels, f.mels)
    assert loaded.maps == f.maps and loaded.classes == f.classes and loaded.song_ids == f.song_ids
    np.testing.assert_array_equal(loaded.labels, f.labels)
    assert loaded.meta["format_version"] == 1
    assert loaded.select_maps(["drums", "mix"]).shape == (7, 8, 6, 2)
    assert not list(tmp_path.glob("*.tmp*"))  # atomic write leaves no temporary file


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(mels=np.zeros((6, 8, 6), np.float32)), "4-d array"),
        (dict(mels=np.zeros((6, 8, 6, 6), np.int32)), "float16 or float32"),
        (dict(mels=np.full((6, 8, 6, 6), np.nan, np.float32)), "NaN or infinite"),
        (dict(labels=np.array([0, 1, 2, 0, 1, 0])), "label 2 out of range"),
        (dict(labels=np.array([0, 1, 0])), "'labels' has shape"),
        (dict(maps=np.array(["mix", "novox", "bass", "drums", "other", "guitar"])), "unknown map name"),
        (dict(maps=np.array(["mix", "novox", "bass"])), "names 3 maps"),
        (dict(song_ids=np.array(["a"] * 6)), "not unique"),
        (dict(meta=np.array("{not json")), "not valid JSON"),
        (dict(meta=np.array(json.dumps({"n_mels": 8}))), "'meta' lacks"),
        (dict(mels=np.zeros((6, 3, 6, 6), np.float32)), r"maps of 3 x 6 are too small: .* at least 4 x 4"),
        (dict(meta=np.array(json.dumps({**toy_features(songs_per_class=(3, 3), n_mels=8, frames=6).meta,
                                         "n_mels": "abc", "sample_rate": "22.05k"}))),
         r"'meta' \['sample_rate', 'n_mels'\] must be positive integers, got \['22.05k', 'abc'\]"),
    ],
)
def test_bad_contents(tmp_path, changes, message):
    path = _write(tmp_path, **changes)
    with pytest.raises(FeatureFileError, match=message) as error:
        load_features(path)
    assert str(path) in str(error.value)


def test_classes_named_twice_are_refused(tmp_path):
    features = load_features(_write(tmp_path))
    with pytest.raises(FeatureFileError, match=r"class\(es\) \['class0'\] named more than once"):
        features.subset_classes(["class0", "class0"])


def test_missing_required_map(tmp_path):
    f = toy_features(songs_per_class=(3, 3), n_mels=8, frames=6)
    path = save_features(tmp_path / "f.npz", mels=f.mels[..., :2], maps=f.maps[:2], labels=f.labels,
                         classes=f.classes, song_ids=f.song_ids, meta=f.meta)
    with pytest.raises(FeatureFileError, match=r"missing map\(s\) \['bass', 'drums'\]"):
        load_features(path, ["mix", "bass", "drums"])


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(FeatureFileError, match="no such feature file"):
        load_features(tmp_path / "absent.npz")
    good = _write(tmp_path)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FeatureFileError, match="cannot read as .npz"):
        load_features(truncated)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(FeatureFileError, match="cannot read"):
        load_features(text)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(FeatureFileError, match="missing key"):
        load_features(other)


def test_a_file_naming_one_class_twice_is_refused(tmp_path):
    path = _write(tmp_path, classes=np.array(["house", "house"]))
    with pytest.raises(FeatureFileError, match=r"'classes' names 'house' more than once") as error:
        load_features(path)
    assert str(path) in str(error.value)


def _save(path, f, **extra):
    return save_features(path, mels=f.mels, maps=f.maps, labels=f.labels, classes=f.classes, song_ids=f.song_ids,
                         meta=f.meta, segment_song=f.segment_song, **extra)


def test_round_trip_with_artists_and_segments(tmp_path):
    f = toy_features(songs_per_class=(2, 2), n_mels=8, frames=6, segments_per_song=2)
    per_song = ["A;B", "", "B", "C"]  # song 0 credits two artists, song 1 none
    path = _save(tmp_path / "f.npz", f, artists=[per_song[s] for s in f.segment_song])
    loaded = load_features(path)
    assert loaded.artists == ("A;B", "A;B", "", "", "B", "B", "C", "C")
    assert loaded.song_artists == (("A", "B"), (), ("B",), ("C",))
    assert loaded.song_names == ("song000", "song001", "song002", "song003")
    label = int(f.song_labels[0])
    kept = [song for song in range(4) if f.song_labels[song] == label]  # song 0 and the other of its class
    subset = loaded.subset_classes([f.classes[label]])
    assert subset.song_artists == tuple(loaded.song_artists[song] for song in kept) and subset.n_rows == 4
    # no song with an artist: no key, and no artists in memory
    assert load_features(_save(tmp_path / "none.npz", f, artists=[""] * f.n_rows)).artists is None
    assert load_features(_save(tmp_path / "absent.npz", f)).song_artists is None


def test_bad_artists_are_refused(tmp_path):
    f = toy_features(songs_per_class=(2, 2), n_mels=8, frames=6, segments_per_song=2)
    with pytest.raises(FeatureFileError, match=r"'artists' has 3 entries, expected one per row \(8\)"):
        _save(tmp_path / "f.npz", f, artists=["A", "B", "C"])
    split = ["A", "A; B"] + ["C"] * 6  # the two segments of song000 disagree
    with pytest.raises(FeatureFileError, match=r"song 'song000' carry different artists \(\['A', 'A; B'\]\)"):
        _save(tmp_path / "f.npz", f, artists=split)
    same = ["A;B", " A ; B"] + ["C"] * 6  # spelt differently, the same names
    assert load_features(_save(tmp_path / "f.npz", f, artists=same)).song_artists[0] == ("A", "B")
    path = _write(tmp_path, artists=np.arange(6))
    with pytest.raises(FeatureFileError, match=r"'artists' must be strings of shape \(rows,\), got int") as error:
        load_features(path)
    assert str(path) in str(error.value)

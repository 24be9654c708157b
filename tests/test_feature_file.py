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

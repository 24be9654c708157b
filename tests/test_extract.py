"""jaxsep.features.extract and jaxsep.cli.audio: maps against librosa, meta, cache hits, resumption, bad files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import typer
from audio_helpers import SHARED, tone, write
from typer.testing import CliRunner

from jaxsep.audio.layouts import discover
from jaxsep.cache import Cache
from jaxsep.cli import audio as cli_audio
from jaxsep.constants import MAPS, SEGMENT_SAMPLES, STEMS
from jaxsep.errors import AudioError, ConfigError, DatasetError, FeatureFileError
from jaxsep.features.extract import FeatureOptions, featurize, song_maps
from jaxsep.features.file import load_features
from jaxsep.features.logmel import log_mel
from jaxsep.separation.export import separate_to_folder
from jaxsep.separation.stems import GIVEN

GAINS = {"bass": 0.1, "drums": 0.2, "other": 0.3, "vocals": 0.4}
SECONDS = 11.0  # just over one segment (10.63 s)


class FixedGainSeparator:
    """Splits the mix into fixed fractions (they add up to it); counts calls; can fail on a chosen call."""

    name, signature = "fixed-gain", "fixed-gain-v1"

    def __init__(self, sample_rate=22_050, channels=1, fail_on=None):
        self.sample_rate, self.channels, self.fail_on, self.calls = sample_rate, channels, fail_on, 0

    def separate(self, audio, sample_rate, *, progress=None):
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("killed")  # not a JaxsepError: stops the run, like Ctrl-C
        if progress is not None:
            progress(1.0)
        return {stem: gain * audio for stem, gain in GAINS.items()}


def _data(root, rates=(22_050,) * 4):
    for (label, index), rate in zip([("a", 0), ("a", 1), ("b", 0), ("b", 1)], rates):
        write(root / label / f"s{index}.wav", tone(SECONDS, sample_rate=rate, channels=2, seed=index,
                                                   freq=220.0 if label == "a" else 660.0), rate)
    return root


def test_features_match_librosa_and_carry_meta(tmp_path):
    songs, _ = discover(_data(tmp_path / "data"))
    separator = FixedGainSeparator()
    run = featurize(songs, out=tmp_path / "f.npz", separator=separator, cache=Cache(tmp_path / "c"),
                    options=FeatureOptions(start=0.2, dtype="float32"))
    features = load_features(run.path)
    assert features.mels.shape == (4, 128, 458, 6) and features.maps == MAPS
    assert features.classes == ("a", "b") and features.labels.tolist() == [0, 0, 1, 1]
    assert features.song_ids == ("a/s0", "a/s1", "b/s0", "b/s1") and run.problems == []
    mix = tone(SECONDS, channels=2, seed=0, freq=220.0).mean(axis=0)[4_410: 4_410 + SEGMENT_SAMPLES]
    for index, gain in enumerate([1.0, 0.6, *GAINS.values()]):  # mix, novox = bass+drums+other, stems
        np.testing.assert_allclose(features.mels[0, :, :, index], log_mel(gain * mix), atol=2e-3)
    meta = features.meta
    assert (meta["separator"], meta["separator_signature"], meta["n_mels"], meta["n_fft"], meta["hop_length"]) == (
        "fixed-gain", "fixed-gain-v1", 128, 2_048, 512)
    assert meta["segment_samples"] == SEGMENT_SAMPLES and meta["starts"]["b/s1"] == 0.2
    assert meta["db"] == {"ref_power": 1.0, "amin": 1e-10, "top_db": None}


def test_cache_hits_parameter_changes_and_force(tmp_path):
    songs, _ = discover(_data(tmp_path / "data"))
    cache = Cache(tmp_path / "c")
    first = FixedGainSeparator()
    featurize(songs, out=tmp_path / "f.npz", separator=first, cache=cache)
    assert first.calls == 4 and len(cache.entries("start")) == 4  # automatic starts, picked once
    again = FixedGainSeparator()
    featurize(songs, out=tmp_path / "f.npz", separator=again, cache=cache)
    assert again.calls == 0
    fewer_mels = FixedGainSeparator()
    run = featurize(songs, out=tmp_path / "f64.npz", separator=fewer_mels, cache=cache,
                    options=FeatureOptions(n_mels=64))
    assert fewer_mels.calls == 0 and load_features(run.path).mels.shape == (4, 64, 458, 6)  # stems reused
    forced = FixedGainSeparator()
    featurize(songs, out=tmp_path / "f.npz", separator=forced, cache=Cache(tmp_path / "c", force=True))
    assert forced.calls == 4


@pytest.mark.parametrize("workers", [1, 2])
def test_interrupted_run_resumes_with_unfinished_songs_only(tmp_path, workers):
    songs, _ = discover(_data(tmp_path / "data"))
    cache = Cache(tmp_path / "c")
    with pytest.raises(RuntimeError, match="killed"):
        featurize(songs, out=tmp_path / "f.npz", separator=FixedGainSeparator(fail_on=3), cache=cache,
                  options=FeatureOptions(start=0.0), workers=workers)
    kept = len(cache.entries("maps"))  # on threads, a song already started when the third failed finishes too
    assert not (tmp_path / "f.npz").exists() and (kept == 2 if workers == 1 else 2 <= kept <= 3)
    resumed = FixedGainSeparator()
    run = featurize(songs, out=tmp_path / "f.npz", separator=resumed, cache=cache, options=FeatureOptions(start=0.0),
                    workers=workers)
    assert resumed.calls == 4 - kept and load_features(run.path).n_songs == 4


def test_bad_files_are_reported_and_the_run_goes_on(tmp_path):
    data = _data(tmp_path / "data", rates=(8_000, 96_000, 22_050, 44_100))  # unusual rates are fine
    bad = tone(SECONDS)
    bad[0, 50] = np.nan
    write(data / "a" / "nan.wav", bad)
    write(data / "a" / "silent.wav", np.zeros((1, 250_000), np.float32))
    write(data / "b" / "short.wav", tone(3.0))
    write(data / "b" / "surround.wav", tone(SECONDS, channels=6))
    (data / "b" / "corrupt.flac").write_bytes(b"fLaC but nothing after")
    (data / "b" / "readme.txt").write_text("not audio")
    songs, problems = discover(data)
    run = featurize(songs, out=tmp_path / "f.npz", separator=FixedGainSeparator(channels=2), cache=Cache(tmp_path / "c"),
                    options=FeatureOptions(start=0.0), problems=problems)
    assert load_features(run.path).song_ids == ("a/s0", "a/s1", "b/s0", "b/s1")
    reasons = {p.file.rsplit("/", 1)[-1]: p.problem for p in run.problems}
    assert set(reasons) == {"readme.txt", "nan.wav", "silent.wav", "short.wav", "surround.wav", "corrupt.flac"}
    assert "runs past the end" in reasons["short.wav"] and "not finite" in reasons["nan.wav"]
    assert sorted(file for file, _ in load_features(run.path).meta["skipped"]) == sorted(p.file for p in run.problems)
    with pytest.raises(AudioError, match="nan.wav: audio is not finite"):
        featurize(songs, out=tmp_path / "g.npz", separator=FixedGainSeparator(), cache=Cache(tmp_path / "c"),
                  options=FeatureOptions(start=0.0, strict=True))
    padded = featurize(songs, out=tmp_path / "p.npz", separator=FixedGainSeparator(), cache=Cache(tmp_path / "c"),
                       options=FeatureOptions(pad=True))
    assert "b/short" in padded.song_ids


def test_songs_on_threads_write_the_same_file_and_problems(tmp_path):
    data = _data(tmp_path / "data", rates=(22_050, 44_100, 22_050, 8_000))
    write(data / "a" / "silent.wav", np.zeros((1, 250_000), np.float32))
    (data / "b" / "corrupt.flac").write_bytes(b"fLaC but nothing after")
    songs, problems = discover(data)
    runs = [featurize(songs, out=tmp_path / f"f{workers}.npz", separator=FixedGainSeparator(channels=2),
                      cache=Cache(tmp_path / f"c{workers}"), options=FeatureOptions(start=0.0), problems=problems,
                      workers=workers) for workers in (1, 3)]
    one, three = (load_features(run.path) for run in runs)
    assert one.song_ids == three.song_ids == ("a/s0", "a/s1", "b/s0", "b/s1")
    np.testing.assert_array_equal(one.mels, three.mels)
    assert runs[0].problems == runs[1].problems and len(runs[0].problems) == 2
    with pytest.raises(AudioError, match="silent.wav"):  # strict: the first problem in song order
        featurize(songs, out=tmp_path / "s.npz", separator=FixedGainSeparator(), cache=Cache(tmp_path / "c1"),
                  options=FeatureOptions(start=0.0, strict=True), workers=3)


def _given_song(folder, *, residual=0.0, short_stem=None, mix_channels=2):
    stems = {stem: tone(SECONDS, channels=2, seed=i, freq=100.0 * (i + 1)) for i, stem in enumerate(STEMS)}
    stems["vocals"][:] = 0.0  # an instrumental: silent true vocals are fine
    mix = sum(stems.values()) + residual * tone(SECONDS, channels=2, seed=9)
    mix = np.concatenate([mix, np.repeat(mix[:1], mix_channels - 2, axis=0)])
    write(folder / "mixture.wav", mix)
    for stem, audio in stems.items():
        write(folder / f"{stem}.wav", audio[:, :100_000] if stem == short_stem else audio)
    return mix, stems


def test_given_stems_are_checked_and_used(tmp_path):
    mix, stems = _given_song(tmp_path / "data" / "x" / "good1")
    _given_song(tmp_path / "data" / "x" / "good2")
    _given_song(tmp_path / "data" / "x" / "offsum", residual=1.0)
    _given_song(tmp_path / "data" / "x" / "short", short_stem="drums")
    _given_song(tmp_path / "data" / "x" / "surround", mix_channels=3)  # stereo stems of a 3-channel mix
    songs, _ = discover(tmp_path / "data")
    run = featurize(songs, out=tmp_path / "f.npz", separator=GIVEN, cache=Cache(tmp_path / "c"),
                    options=FeatureOptions(start=0.0, dtype="float32"))
    assert run.song_ids == ["x/good1", "x/good2"]
    reasons = {p.file.split("/")[-2]: p.problem for p in run.problems}
    assert reasons["short"].startswith("drums stem has 100000 samples") and "do not add up" in reasons["offsum"]
    assert reasons["surround"] == "bass stem has 2 channels but the mix has 3 (a stem needs as many, or one)"
    maps = load_features(run.path).mels[0]
    window = slice(0, SEGMENT_SAMPLES)
    np.testing.assert_allclose(maps[..., 0], log_mel(mix.mean(axis=0)[window]), atol=2e-3)
    np.testing.assert_allclose(maps[..., 2], log_mel(stems["bass"].mean(axis=0)[window]), atol=2e-3)
    np.testing.assert_allclose(maps[..., 5], -100.0, atol=1e-3)


def test_separate_to_folder_writes_a_given_data_set(tmp_path):
    songs, _ = discover(_data(tmp_path / "data"))
    separator = FixedGainSeparator(sample_rate=44_100, channels=2)
    run = separate_to_folder(songs, out=tmp_path / "out", separator=separator, cache=Cache(tmp_path / "c"), start=0.0)
    assert run.song_ids == [s.song_id for s in songs] and separator.calls == 4
    written, _ = discover(tmp_path / "out")
    assert [s.song_id for s in written] == ["a/s0", "a/s1", "b/s0", "b/s1"] and set(written[0].stems) == set(STEMS)
    featurize(written, out=tmp_path / "f.npz", separator=GIVEN, cache=Cache(tmp_path / "c"))  # stems add up
    again = FixedGainSeparator(sample_rate=44_100, channels=2)
    separate_to_folder(songs, out=tmp_path / "out", separator=again, cache=Cache(tmp_path / "c"), start=0.0)
    assert again.calls == 0  # finished songs are not redone
    listed, _ = discover(tmp_path / "out" / "manifest.csv")
    assert [(s.path, s.label, s.stems) for s in listed] == [(s.path, s.label, s.stems) for s in written]


def test_separated_labels_that_are_no_folder_names_keep_their_manifest_label(tmp_path):
    """GiantSteps+ labels hold slashes ('Indie Dance / Nu Disco'): the class folder gets a safe name, the
    manifest keeps the label, and a label that would climb out of OUT ('..') stays inside."""
    data = _data(tmp_path / "data")
    songs, _ = discover(data)
    relabelled = [dataclasses.replace(s, label=label)
                  for s, label in zip(songs, ["Indie Dance / Nu Disco", "Indie Dance / Nu Disco", "..", ".."])]
    out = tmp_path / "out"
    separate_to_folder(relabelled, out=out, separator=FixedGainSeparator(), cache=Cache(tmp_path / "c"), start=0.0)
    assert sorted(p.name for p in out.iterdir()) == ["Indie Dance - Nu Disco", "_..", "manifest.csv"]
    by_folder, _ = discover(out)
    assert [s.label for s in by_folder] == ["Indie Dance - Nu Disco"] * 2 + ["_.."] * 2
    by_manifest, _ = discover(out / "manifest.csv")
    assert sorted(s.label for s in by_manifest) == [".."] * 2 + ["Indie Dance / Nu Disco"] * 2
    clash = [dataclasses.replace(s, label=label) for s, label in zip(songs, ["a/b", "a/b", "a-b", "a-b"])]
    with pytest.raises(DatasetError, match=r"labels \['a-b', 'a/b'\] would share the class folder 'a-b'"):
        separate_to_folder(clash, out=tmp_path / "clash", separator=FixedGainSeparator(), cache=Cache(tmp_path / "c"),
                           start=0.0)
    assert not (tmp_path / "clash").exists()  # refused before any song is separated


@pytest.mark.parametrize("out, message", [
    ("folder", "is a folder; --out names the feature file"),
    ("features.wav", "a feature file's name ends in .npz"),
    ("a-file/f.npz", "cannot create its folder"),
])
def test_an_unwritable_feature_file_is_named_before_any_song(tmp_path, out, message):
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("x")
    songs, _ = discover(_data(tmp_path / "data"))
    separator = FixedGainSeparator()
    with pytest.raises(FeatureFileError, match=message):
        featurize(songs, out=tmp_path / out, separator=separator, cache=Cache(tmp_path / "c"))
    assert separator.calls == 0


def test_an_unusable_cache_is_named_before_any_song(tmp_path):
    from jaxsep.errors import CacheError

    (tmp_path / "a-file").write_text("x")
    songs, _ = discover(_data(tmp_path / "data"))
    separator = FixedGainSeparator()
    with pytest.raises(CacheError, match="a-file: cannot be used as the cache folder"):
        featurize(songs, out=tmp_path / "f.npz", separator=separator, cache=Cache(tmp_path / "a-file"))
    with pytest.raises(CacheError, match="a-file: cannot be used as the cache folder"):
        separate_to_folder(songs, out=tmp_path / "stems", separator=separator, cache=Cache(tmp_path / "a-file"))
    assert separator.calls == 0


def test_with_the_dsp_separator(tmp_path):
    pytest.importorskip("jaxsep.separation")
    from jaxsep.separation import get_separator

    songs, _ = discover(_data(tmp_path / "data"))
    maps, start = song_maps(songs[0], separator=get_separator("dsp"), cache=Cache(tmp_path / "c"),
                            options=FeatureOptions(start=0.0))
    assert maps.shape == (128, 458, 6) and np.isfinite(maps).all() and start == 0.0
    mix = tone(SECONDS, channels=2, seed=0, freq=220.0).mean(axis=0)[:SEGMENT_SAMPLES]
    np.testing.assert_allclose(maps[..., 0], log_mel(mix), atol=2e-3)


@pytest.mark.skipif(not (SHARED / "data" / "multitrack" / "musdb18-sample").is_dir(), reason="../shared absent")
def test_shared_musdb_sample_as_given_stems(tmp_path):
    folder = SHARED / "data" / "multitrack" / "musdb18-sample"
    song = discover_one(folder)
    maps, _ = song_maps(song, separator=GIVEN, cache=Cache(tmp_path), options=FeatureOptions(pad=True))
    assert maps.shape == (128, 458, 6) and np.isfinite(maps).all()
    with pytest.raises(AudioError, match="too short"):
        song_maps(song, separator=GIVEN, cache=Cache(tmp_path), options=FeatureOptions())


def discover_one(folder):
    from jaxsep.audio.layouts import _song_folder

    song, problem = _song_folder(folder, "musdb", "rock")
    assert problem is None
    return song


def test_cli_features_and_separate(tmp_path, monkeypatch):
    data = _data(tmp_path / "data")
    (data / "b" / "broken.wav").write_bytes(b"RIFF....WAVE")
    monkeypatch.setattr(cli_audio, "open_separator", lambda name, **kw: GIVEN if name == GIVEN else FixedGainSeparator())
    app = typer.Typer()
    cli_audio.register(app)
    runner = CliRunner()
    out = tmp_path / "f.npz"
    result = runner.invoke(app, ["features", str(data), "--out", str(out), "--separator", "dsp", "--start", "0",
                                 "--cache", str(tmp_path / "c"), "--classes", "a,b"])
    assert result.exit_code == 0, result.output
    assert load_features(out).n_songs == 4 and "broken.wav" in result.output and "wrote" in result.output
    strict = runner.invoke(app, ["features", str(data), "--out", str(tmp_path / "g.npz"), "--start", "0", "--strict",
                                 "--cache", str(tmp_path / "c")])
    assert strict.exit_code == 1 and "error:" in strict.output and "broken.wav" in strict.output
    unknown = runner.invoke(app, ["features", str(data), "--classes", "polka", "--cache", str(tmp_path / "c")])
    assert unknown.exit_code == 1 and "polka" in unknown.output
    separated = runner.invoke(app, ["separate", str(data), "--out", str(tmp_path / "stems"), "--start", "0",
                                    "--cache", str(tmp_path / "c")])
    assert separated.exit_code == 0, separated.output
    assert (tmp_path / "stems" / "a" / "s0" / "vocals.wav").is_file()
    given = runner.invoke(app, ["separate", str(data), "--out", str(tmp_path / "x"), "--separator", "given"])
    assert given.exit_code != 0


def test_no_usable_class_is_an_error(tmp_path):
    songs, _ = discover(_data(tmp_path / "data"))
    with pytest.raises(DatasetError, match="no class has two usable songs"):
        featurize(songs[:3:2], out=tmp_path / "f.npz", separator=FixedGainSeparator(), cache=Cache(tmp_path / "c"),
                  options=FeatureOptions(start=0.0))


def test_several_segments_per_song_become_rows_of_one_song(tmp_path):
    for label, freq in (("a", 220.0), ("b", 660.0)):
        for index in range(2):
            write(tmp_path / "data" / label / f"s{index}.wav", tone(23.0, seed=index, freq=freq))
    (tmp_path / "data" / "a" / "short.wav").parent.mkdir(exist_ok=True)
    write(tmp_path / "data" / "a" / "short.wav", tone(SECONDS, seed=5, freq=220.0))
    songs, _ = discover(tmp_path / "data")
    songs = [dataclasses.replace(song, artists=(f"artist of {song.song_id}",)) for song in songs]
    separator = FixedGainSeparator()
    run = featurize(songs, out=tmp_path / "f.npz", separator=separator, cache=Cache(tmp_path / "c"),
                    options=FeatureOptions(segments_per_song=2, dtype="float32"))
    features = load_features(run.path)
    assert features.n_rows == 8 and features.n_songs == 4 and features.segments_per_song == 2
    assert features.artists[:4] == ("artist of a/s0",) * 2 + ("artist of a/s1",) * 2  # each row of a song
    assert features.song_artists[3] == ("artist of b/s1",)
    assert features.song_ids[:2] == ("a/s0@0", "a/s0@1") and features.song_names[0] == "a/s0"
    assert features.segment_song.tolist() == [0, 0, 1, 1, 2, 2, 3, 3] and separator.calls == 8
    starts = features.meta["starts"]["a/s0"]
    assert len(starts) == 2 and abs(starts[0] - starts[1]) >= SEGMENT_SAMPLES / 22_050 - 1e-6
    assert [p.problem for p in run.problems if "short" in p.file] == [
        "too short for 2 segments of 10.63 s (11.00 s)"]
    with pytest.raises(ConfigError, match="segments per song must be >= 1"):
        FeatureOptions(segments_per_song=0)


def test_artists_reach_the_feature_file_and_survive_separation(tmp_path):
    """featurize writes each song's artists (none: no key); ``separate``'s manifest keeps them for the way back."""
    songs, _ = discover(_data(tmp_path / "data"))
    plain = featurize(songs, out=tmp_path / "plain.npz", separator=FixedGainSeparator(), cache=Cache(tmp_path / "c"),
                      options=FeatureOptions(start=0.0))
    assert load_features(plain.path).artists is None
    credited = [dataclasses.replace(song, artists=artists)
                for song, artists in zip(songs, [("A", "B"), (), ("B",), ("C, Jr.",)])]
    run = featurize(credited, out=tmp_path / "f.npz", separator=FixedGainSeparator(), cache=Cache(tmp_path / "c"),
                    options=FeatureOptions(start=0.0))
    features = load_features(run.path)
    assert features.artists == ("A;B", "", "B", "C, Jr.")
    assert features.song_artists == (("A", "B"), (), ("B",), ("C, Jr.",))
    separate_to_folder(credited, out=tmp_path / "out", separator=FixedGainSeparator(), cache=Cache(tmp_path / "c"),
                       start=0.0)
    assert (tmp_path / "out" / "manifest.csv").read_text().splitlines()[:2] == [
        "path,label,artist,bass,drums,other,vocals", "a/s0/mixture.wav,a,A;B,a/s0/bass.wav,a/s0/drums.wav,"
        "a/s0/other.wav,a/s0/vocals.wav"]
    listed, _ = discover(tmp_path / "out" / "manifest.csv")
    assert [s.artists for s in listed] == [s.artists for s in credited]  # fed back, they keep their artists

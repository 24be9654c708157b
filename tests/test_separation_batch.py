"""Batched separation (issue 23): DemucsSeparator.separate_batch against one clip at a time (plumbing with a
fake model, float agreement with demucs_unittest and with htdemucs on the shared real recordings), featurize's
``separation_batch`` across songs (calls, problems, cache) and the option's checks."""

from __future__ import annotations


import numpy as np
import pytest
import typer
from audio_helpers import SHARED, tone, write
from typer.testing import CliRunner

from jaxsep.audio.files import fit_length, load_audio
from jaxsep.audio.layouts import discover
from jaxsep.cache import Cache
from jaxsep.cli import audio as cli_audio
from jaxsep.constants import STEMS
from jaxsep.errors import AudioError, ConfigError
from jaxsep.features.extract import FeatureOptions, featurize, song_maps
from jaxsep.features.file import load_features
from jaxsep.separation import get_separator
from jaxsep.separation.base import BatchSeparator

MULTITRACK = SHARED / "data" / "multitrack"
HTDEMUCS = SHARED / "models" / "htdemucs"
needs_htdemucs = pytest.mark.skipif(
    not (MULTITRACK.is_dir() and (HTDEMUCS / "htdemucs.yaml").is_file()), reason="../shared htdemucs weights absent"
)
GAINS = {"bass": 0.1, "drums": 0.2, "other": 0.3, "vocals": 0.4}
SECONDS = 11.0  # just over one segment (10.63 s)


class FixedGainBatchSeparator:
    """Splits each clip into fixed fractions; records how many clips each call got."""

    name, signature = "fixed-gain", "fixed-gain-v1"

    def __init__(self, sample_rate=22_050, channels=1):
        self.sample_rate, self.channels, self.calls = sample_rate, channels, []

    def separate(self, audio, sample_rate, *, progress=None):
        return self.separate_batch([audio], sample_rate, progress=progress)[0]

    def separate_batch(self, clips, sample_rate, *, batch_size=1, progress=None):
        clips = list(clips)
        for start in range(0, len(clips), batch_size):
            self.calls.append(len(clips[start: start + batch_size]))
        if progress is not None:
            progress(1.0)
        return [{stem: gain * clip for stem, gain in GAINS.items()} for clip in clips]


def _songs(root, names=("a/s0", "a/s1", "b/s0", "b/s1"), seconds=SECONDS):
    for index, name in enumerate(names):
        write(root / f"{name}.wav", tone(seconds, seed=index, freq=220.0 if name.startswith("a") else 660.0))
    return discover(root)[0]


@pytest.fixture(scope="module")
def unittest_demucs():
    return get_separator("demucs", model_name="demucs_unittest", device="cpu")


def test_batches_group_equal_lengths_and_keep_each_clip(unittest_demucs, monkeypatch):
    """A fake model (fixed fractions of its input) shows what each model call gets and where its output goes."""
    seen: list[tuple[int, ...]] = []

    def fake_apply(model, stereo, report):
        seen.append(stereo.shape)
        report(1.0)
        return {stem: share * stereo for stem, share in GAINS.items()}

    monkeypatch.setattr(unittest_demucs, "_apply", fake_apply)
    rng = np.random.default_rng(3)
    shapes = [(2, 4_410), (3, 4_410), (1, 4_410), (2, 2_205)]
    clips = [(0.1 * rng.standard_normal(shape)).astype(np.float32) for shape in shapes]
    calls: list[float] = []
    batched = unittest_demucs.separate_batch(clips, 44_100, batch_size=3, progress=calls.append)
    # Pieces of 4,410 samples: clip 0, clip 1's channels (0, 1) and 2, clip 2 -> calls of 3 and 1; clip 3 alone.
    assert seen == [(3, 2, 4_410), (1, 2, 4_410), (1, 2, 2_205)]
    assert calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)
    seen.clear()
    alone = [unittest_demucs.separate(clip, 44_100) for clip in clips]
    assert seen == [(1, 2, 4_410), (1, 2, 4_410), (1, 2, 4_410), (1, 2, 4_410), (1, 2, 2_205)]
    for clip, one, many in zip(clips, alone, batched):
        assert list(many) == list(STEMS)
        for stem in STEMS:
            assert many[stem].shape == clip.shape and many[stem].dtype == np.float32
            np.testing.assert_array_equal(many[stem], one[stem])


def test_bad_clips_and_batch_sizes_are_refused_before_the_model_runs(unittest_demucs, monkeypatch):
    monkeypatch.setattr(unittest_demucs, "_apply", lambda *args: pytest.fail("the model ran"))
    good = np.zeros((2, 1_000), np.float32)
    bad = good.copy()
    bad[0, 5] = np.nan
    with pytest.raises(AudioError, match="not finite"):
        unittest_demucs.separate_batch([good, bad], 44_100, batch_size=2)
    for size in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match=f"separation batch must be an integer >= 1, got {size!r}"):
            unittest_demucs.separate_batch([good], 44_100, batch_size=size)
    assert isinstance(unittest_demucs, BatchSeparator) and not isinstance(get_separator("dsp"), BatchSeparator)


def test_featurize_batches_across_songs_and_each_song_keeps_its_problem(tmp_path):
    songs = _songs(tmp_path / "data", ("a/s0", "a/s1", "b/s0", "b/s1"))
    bad = tone(SECONDS)
    bad[0, 50] = np.nan
    write(tmp_path / "data" / "a" / "s0nan.wav", bad)  # sorts between a/s0 and a/s1: inside the first batch
    songs = discover(tmp_path / "data")[0]
    options = FeatureOptions(start=0.0, dtype="float32")
    alone = FixedGainBatchSeparator()
    one = featurize(songs, out=tmp_path / "one.npz", separator=alone, cache=Cache(tmp_path / "c1"), options=options)
    assert alone.calls == [1, 1, 1, 1]
    batched = FixedGainBatchSeparator()
    three = featurize(songs, out=tmp_path / "three.npz", separator=batched, cache=Cache(tmp_path / "c3"),
                      options=options, separation_batch=3)
    # a/s0 goes with a/s1 and b/s0 (a/s0nan cannot be loaded: left out), b/s1 alone.
    assert batched.calls == [3, 1]
    assert one.problems == three.problems and [p.file.rsplit("/", 1)[-1] for p in three.problems] == ["s0nan.wav"]
    assert "not finite" in three.problems[0].problem
    first, second = load_features(one.path), load_features(three.path)
    assert first.song_ids == second.song_ids == ("a/s0", "a/s1", "b/s0", "b/s1")
    np.testing.assert_array_equal(first.mels, second.mels)

    again = FixedGainBatchSeparator()  # everything cached: no call
    featurize(songs, out=tmp_path / "again.npz", separator=again, cache=Cache(tmp_path / "c3"), options=options,
              separation_batch=3)
    assert again.calls == []
    partly = Cache(tmp_path / "partly")  # a/s1 cached already: skipped when filling the batch
    song_maps(songs[2], separator=FixedGainBatchSeparator(), cache=partly, options=options)
    filling = FixedGainBatchSeparator()
    featurize(songs, out=tmp_path / "partly.npz", separator=filling, cache=partly, options=options,
              separation_batch=3)
    assert filling.calls == [3]
    with pytest.raises(AudioError, match="s0nan.wav: audio is not finite"):
        featurize(songs, out=tmp_path / "strict.npz", separator=FixedGainBatchSeparator(), cache=Cache(tmp_path / "s"),
                  options=FeatureOptions(start=0.0, strict=True), separation_batch=3)


def test_featurize_batches_several_segments_per_song(tmp_path):
    songs = _songs(tmp_path / "data", seconds=23.0)
    options = FeatureOptions(segments_per_song=2, dtype="float32")
    runs, separators = [], []
    for size in (1, 3):
        separators.append(FixedGainBatchSeparator())
        runs.append(featurize(songs, out=tmp_path / f"f{size}.npz", separator=separators[-1],
                              cache=Cache(tmp_path / f"c{size}"), options=options, separation_batch=size))
    assert separators[0].calls == [1] * 8 and separators[1].calls == [3, 3, 2]  # batches cross songs
    one, three = (load_features(run.path) for run in runs)
    assert one.song_ids == three.song_ids and one.meta["starts"] == three.meta["starts"]
    np.testing.assert_array_equal(one.mels, three.mels)


def test_the_option_is_checked_and_reaches_featurize(tmp_path, monkeypatch):
    _songs(tmp_path / "data")
    separator = FixedGainBatchSeparator()
    monkeypatch.setattr(cli_audio, "open_separator", lambda name, **kw: separator)
    app = typer.Typer()
    cli_audio.register(app)
    runner = CliRunner()
    common = ["features", str(tmp_path / "data"), "--start", "0", "--cache", str(tmp_path / "c")]
    refused = runner.invoke(app, [*common, "--out", str(tmp_path / "f0.npz"), "--separation-batch", "0"])
    assert refused.exit_code == 2 and "--separation-batch" in refused.output and not separator.calls
    result = runner.invoke(app, [*common, "--out", str(tmp_path / "f.npz"), "--separation-batch", "3"])
    assert result.exit_code == 0, result.output
    assert separator.calls == [3, 1]
    songs = discover(tmp_path / "data")[0]
    with pytest.raises(ConfigError, match="separation batch must be an integer >= 1, got 0"):
        featurize(songs, out=tmp_path / "g.npz", separator=separator, cache=Cache(tmp_path / "c"), separation_batch=0)
    assert not (tmp_path / "g.npz").exists()


def test_demucs_unittest_batch_equals_one_at_a_time(unittest_demucs):
    """The real torch path (untrained weights, 4 s chunks); htdemucs on real recordings is the slow test below."""
    rng = np.random.default_rng(4)
    clips = [(0.1 * rng.standard_normal((2, 22_050))).astype(np.float32) for _ in range(3)]
    alone = [unittest_demucs.separate(clip, 44_100) for clip in clips]
    batched = unittest_demucs.separate_batch(clips, 44_100, batch_size=3)
    again = unittest_demucs.separate_batch(clips, 44_100, batch_size=1)
    for one, many, single in zip(alone, batched, again):
        for stem in STEMS:
            np.testing.assert_array_equal(single[stem], one[stem])  # batch 1 is separate() exactly
            # float32 rounding in another summation order: measured max 1.7e-8, on stems peaking at 0.05
            np.testing.assert_allclose(many[stem], one[stem], rtol=0, atol=1e-6)


def _excerpt(folder: str, offset: float, seconds: float = 3.0) -> np.ndarray:
    """The folder's mixture (its own, or the sum of its stems) from ``offset``, 44.1 kHz stereo as the
    separator's input is loaded (soxr from waveform-playlist's 48 kHz), ``(2, seconds * 44_100)``."""
    path = MULTITRACK / folder
    files = [path / "mixture.flac"] if (path / "mixture.flac").is_file() else sorted(path.glob("*.mp3"))
    parts = [load_audio(file, sample_rate=44_100, offset=offset, duration=seconds)[0] for file in files]
    return sum(fit_length(part, int(seconds * 44_100)) for part in parts).astype(np.float32)


@needs_htdemucs
@pytest.mark.slow
def test_htdemucs_batch_of_two_equals_one_at_a_time(monkeypatch):
    separator = get_separator("demucs", model_repo=HTDEMUCS, device="cpu")
    clips = [_excerpt("musdb18-sample", 0.5), _excerpt("waveform-playlist", 10.0)]  # two: each model call is ~10 s
    alone = [separator.separate(clip, 44_100) for clip in clips]
    shapes: list[tuple[int, ...]] = []
    apply = separator._apply

    def recorded(model, stereo, report):
        shapes.append(stereo.shape)
        return apply(model, stereo, report)

    monkeypatch.setattr(separator, "_apply", recorded)
    batched = separator.separate_batch(clips, 44_100, batch_size=2)
    assert shapes == [(2, 2, 132_300)]  # one model call for the two
    # Only float32 rounding differs (batched products sum in another order): measured max 1.1e-6 with three (2-core
    # AVX-512 EPYC). 1e-4 leaves room for other CPUs' and GPUs' kernels and is still -80 dB of full scale, far
    # below what moves a log-mel map by float16's 0.03 dB step.
    for a, b in zip(alone, batched):
        for stem in STEMS:
            np.testing.assert_allclose(b[stem], a[stem], rtol=0, atol=1e-4)

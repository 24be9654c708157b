"""Separation backends: dsp sums exactly and separates a synthetic mix; demucs plumbing, weight look-up and
offline failure; torch stays unimported; SDR on the shared real recordings when ../shared is present."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxsep.constants import STEMS
from jaxsep.errors import AudioError, ConfigError, JaxsepError
from jaxsep.separation import (
    MissingWeightsError,
    Separator,
    default_separator_name,
    find_weights,
    get_separator,
)
from jaxsep.separation.evaluation import evaluate_separation, sdr

SHARED = Path(__file__).resolve().parents[2] / "shared"
MULTITRACK = SHARED / "data" / "multitrack"
HTDEMUCS = SHARED / "models" / "htdemucs"
needs_shared_data = pytest.mark.skipif(not MULTITRACK.is_dir(), reason="../shared/data/multitrack is absent")
needs_htdemucs = pytest.mark.skipif(
    not (MULTITRACK.is_dir() and (HTDEMUCS / "htdemucs.yaml").is_file()), reason="../shared htdemucs weights absent"
)


def _synthetic_mix(rate: int = 22_050, seconds: float = 6.0) -> dict[str, np.ndarray]:
    """A low sine (bass), decaying noise clicks (drums) and a vibrato tone with harmonics (lead), each (1, n)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    low = 0.3 * np.sin(2 * np.pi * 55 * t)
    clicks = np.zeros_like(t)
    burst = rng.standard_normal(int(0.01 * rate)) * np.exp(-np.arange(int(0.01 * rate)) / (0.002 * rate))
    for start in range(0, len(t) - len(burst), rate // 4):
        clicks[start: start + len(burst)] += 0.8 * burst
    phase = 2 * np.pi * np.cumsum(880 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / rate
    lead = 0.1 * sum(np.sin(k * phase) / k for k in (1, 2, 3))
    return {name: part[None].astype(np.float32) for name, part in (("low", low), ("clicks", clicks), ("lead", lead))}


def test_get_separator_names_and_protocol():
    separator = get_separator("dsp")
    assert isinstance(separator, Separator)
    assert (separator.name, separator.sample_rate, separator.channels) == ("dsp", 22_050, 1)
    assert separator.signature.startswith("dsp-v")
    with pytest.raises(ConfigError, match="unknown separator 'spleeter'.*dsp, demucs"):
        get_separator("spleeter")
    with pytest.raises(ConfigError, match="model_name"):
        get_separator("dsp", model_name="htdemucs")


@pytest.mark.parametrize(
    "channels, rate, seconds",
    [(2, 44_100, 2.0), (1, 22_050, 1.5), (3, 16_000, 1.0), (1, 8_000, 0.01), (2, 96_000, 0.5)],
)
def test_dsp_stems_sum_exactly_and_keep_the_layout(channels, rate, seconds):
    rng = np.random.default_rng(1)
    audio = (0.3 * rng.standard_normal((channels, int(seconds * rate)))).astype(np.float32)
    stems = get_separator("dsp").separate(audio, rate)
    assert list(stems) == list(STEMS)
    for stem in stems.values():
        assert stem.shape == audio.shape and stem.dtype == np.float32 and np.isfinite(stem).all()
    # Float32 rounding of four additions is the only difference allowed.
    np.testing.assert_allclose(sum(stems.values()), audio, rtol=0, atol=4 * np.finfo(np.float32).eps * 2)


def test_dsp_silence_in_silence_out_and_bad_input():
    separator = get_separator("dsp")
    stems = separator.separate(np.zeros((2, 5000), np.float32), 22_050)
    assert all(not stem.any() for stem in stems.values())
    with pytest.raises(AudioError, match="not finite"):
        separator.separate(np.full((1, 5000), np.nan, np.float32), 22_050)
    with pytest.raises(AudioError, match="shape"):
        separator.separate(np.zeros(5000, np.float32), 22_050)
    with pytest.raises(AudioError, match="no samples"):
        separator.separate(np.zeros((2, 0), np.float32), 22_050)
    with pytest.raises(AudioError, match="sample rate"):
        separator.separate(np.zeros((2, 100), np.float32), 0)


def test_dsp_separates_a_synthetic_mix():
    parts = _synthetic_mix()
    calls: list[float] = []
    stems = get_separator("dsp").separate(sum(parts.values()), 22_050, progress=calls.append)
    assert calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)
    # Most of each part's energy lands in its stem (SDR 3 dB: the error is half the energy or less; measured
    # 34, 12.6 and 18.9 dB).
    assert sdr(parts["low"], stems["bass"]) > 20.0
    assert sdr(parts["clicks"], stems["drums"]) > 8.0
    assert sdr(parts["lead"], stems["vocals"] + stems["other"]) > 12.0
    # ...and little of it elsewhere.
    assert np.sum(stems["bass"] ** 2) < 1.2 * np.sum(parts["low"] ** 2)
    assert sdr(parts["low"] + parts["clicks"], stems["bass"] + stems["drums"]) > 6.0


def test_torch_is_imported_only_by_demucs():
    code = (
        "import sys, numpy as np\n"
        "import jaxsep, jaxsep.separation.evaluation, jaxsep.cli.separation, jaxsep.cli, jaxsep.workflows.demo\n"
        "from jaxsep.separation import get_separator, default_separator_name\n"
        "default_separator_name()\n"
        "get_separator('dsp').separate(np.ones((2, 4096), np.float32), 22050)\n"
        "print(sorted(m for m in ('torch', 'demucs', 'torchaudio') if m in sys.modules))\n"
        "get_separator('demucs', model_name='demucs_unittest').separate(np.ones((1, 441), np.float32), 44100)\n"
        "print(sorted(m for m in ('torch', 'demucs') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "['demucs', 'torch']"]


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Points the Hugging Face and torch hub caches at empty folders, offline."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TORCH_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def test_missing_weights_fail_fast_with_instructions(empty_caches):
    start = time.perf_counter()
    with pytest.raises(MissingWeightsError) as caught:
        get_separator("demucs")
    assert time.perf_counter() - start < 2.0
    message = str(caught.value)
    assert "get_model('htdemucs')" in message and "--model-repo" in message and str(empty_caches / "hf") in message
    assert isinstance(caught.value, JaxsepError)
    assert default_separator_name() == "dsp"

    empty = empty_caches / "empty-repo"
    empty.mkdir()
    start = time.perf_counter()
    with pytest.raises(MissingWeightsError, match="no htdemucs.yaml or htdemucs.th"):
        get_separator("demucs", model_repo=empty)
    assert time.perf_counter() - start < 2.0
    (empty / "htdemucs.yaml").write_text("models: ['955717e8']\n")
    with pytest.raises(MissingWeightsError, match="955717e8"):
        find_weights("htdemucs", model_repo=empty)
    with pytest.raises(MissingWeightsError, match="not a folder"):
        find_weights("htdemucs", model_repo=empty_caches / "nowhere")


def test_weights_are_found_in_the_caches_without_loading(empty_caches):
    # The layouts demucs' own downloaders leave behind; the files are placeholders (nothing is loaded here).
    snapshot = empty_caches / "hf" / "hub" / "models--adefossez--HTDemucs" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "htdemucs.yaml").write_text("models: ['955717e8']\n")
    assert default_separator_name() == "dsp"  # the yaml alone is not enough
    (snapshot / "955717e8.safetensors").write_bytes(b"placeholder")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    found = find_weights()
    assert (found.source, found.files) == ("huggingface", (snapshot / "955717e8.safetensors",))
    assert default_separator_name() == "demucs"

    (snapshot / "955717e8.safetensors").unlink()
    checkpoints = empty_caches / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "955717e8-8726e21a.th").write_bytes(b"placeholder")
    found = find_weights()
    assert (found.source, found.files) == ("torch-hub", (checkpoints / "955717e8-8726e21a.th",))
    assert len(found.digest()) == 16


@pytest.fixture(scope="module")
def unittest_demucs():
    return get_separator("demucs", model_name="demucs_unittest", device="cpu")


def test_demucs_unittest_model_plumbing(unittest_demucs):
    assert (unittest_demucs.name, unittest_demucs.sample_rate, unittest_demucs.channels) == ("demucs", 44_100, 2)
    assert "demucs_unittest" in unittest_demucs.signature and "untrained-seed0" in unittest_demucs.signature
    rng = np.random.default_rng(2)
    for channels, rate, samples in ((2, 44_100, 30_000), (1, 22_050, 11_025)):
        audio = (0.1 * rng.standard_normal((channels, samples))).astype(np.float32)
        calls: list[float] = []
        stems = unittest_demucs.separate(audio, rate, progress=calls.append)
        assert list(stems) == list(STEMS) and calls[-1] == 1.0 and calls == sorted(calls)
        for stem in stems.values():
            assert stem.shape == audio.shape and stem.dtype == np.float32 and np.isfinite(stem).all()
    # Untrained weights come from a fixed seed: a second separator gives the very same stems (cache keys hold).
    again = get_separator("demucs", model_name="demucs_unittest", device="cpu").separate(audio, rate)
    for stem in STEMS:
        np.testing.assert_array_equal(again[stem], stems[stem])
    # The untrained model's stems are noise and do not sum to the mix; the sum is checked with htdemucs below.


def test_demucs_resampling_and_channel_plumbing(unittest_demucs, monkeypatch):
    """With a fake model splitting its input into fixed fractions, the plumbing alone decides the output."""
    fractions = {"drums": 0.1, "bass": 0.2, "other": 0.3, "vocals": 0.4}
    seen: list[tuple[int, ...]] = []

    def fake_apply(model, stereo, report):  # stereo: (batch, 2, samples)
        seen.append(stereo.shape)
        report(1.0)
        return {stem: share * stereo for stem, share in fractions.items()}

    monkeypatch.setattr(unittest_demucs, "_apply", fake_apply)
    t = np.arange(16_000) / 16_000
    # Three channels, band-limited well below 8 kHz so that soxr's 16 -> 44.1 -> 16 kHz round trip is clean.
    audio = np.stack([np.sin(2 * np.pi * f * t) * 0.3 for f in (220, 1_000, 3_000)]).astype(np.float32)
    stems = unittest_demucs.separate(audio, 16_000)
    assert seen == [(1, 2, 44_100), (1, 2, 44_100)]  # channels (0, 1), then channel 2 duplicated to stereo
    for stem, share in fractions.items():
        assert stems[stem].shape == audio.shape
        # Each output channel holds its own input channel only, at its share: nothing crosses channels.
        assert sdr(share * audio, stems[stem]) > 60.0
    assert sdr(audio, sum(stems.values())) > 60.0


@needs_shared_data
@pytest.mark.parametrize(
    "folder, offset, duration, floors",
    [
        # Floors sit 1-3 dB under what the dsp separator measured (musdb 3.6/4.6/3.2/5.8, trackswitch drums 2.1,
        # other 4.2, waveform-playlist 8.2/1.5/5.1 dB), to catch regressions; trackswitch's bass (-2.9 dB: kick-drum
        # sub-bass sits in the harmonic part) and waveform-playlist's other are recorded, not judged.
        ("musdb18-sample", None, None, {"bass": 1.0, "drums": 3.0, "other": 1.0, "vocals": 3.0}),
        ("trackswitch", 60.0, 7.5, {"drums": 1.0, "other": 2.0}),
        ("waveform-playlist", 10.0, 7.5, {"bass+drums": 6.0, "vocals": 3.0}),
    ],
)
def test_dsp_sdr_on_shared_recordings(folder, offset, duration, floors):
    scores = evaluate_separation(MULTITRACK / folder, get_separator("dsp"), offset=offset, duration=duration)
    for target, floor in floors.items():
        assert scores[target] > floor, (target, scores)
    assert "vocals" not in scores or folder != "trackswitch"  # trackswitch has no vocals: no SDR for them


class _Recorder:
    """Wraps a separator and keeps its last input and output, so one slow separation serves two checks."""

    def __init__(self, separator):
        self.inner, self.last = separator, None
        self.name, self.sample_rate, self.channels = separator.name, separator.sample_rate, separator.channels

    @property
    def signature(self) -> str:
        return self.inner.signature

    def separate(self, audio, sample_rate, *, progress=None):
        stems = self.inner.separate(audio, sample_rate, progress=progress)
        self.last = (audio, stems)
        return stems


@pytest.fixture(scope="module")
def htdemucs():
    return get_separator("demucs", model_repo=HTDEMUCS, device="cpu")


@needs_htdemucs
@pytest.mark.slow
def test_htdemucs_reproduces_on_musdb18_sample(htdemucs):
    recorder = _Recorder(htdemucs)
    scores = evaluate_separation(MULTITRACK / "musdb18-sample", recorder)
    floors = {"drums": 13.0, "bass": 11.0, "vocals": 13.0, "other": 8.0}  # README: 14.5, 12.6, 14.6, 9.0 dB
    for target, floor in floors.items():
        assert scores[target] >= floor, (target, scores)
    mix, stems = recorder.last
    # demucs' stems are not constrained to sum to the mix; htdemucs keeps the residual ~33 dB down here.
    assert sdr(mix, sum(stems.values())) > 25.0
    assert htdemucs.signature.startswith("demucs-4") and "htdemucs weights-" in htdemucs.signature


@needs_htdemucs
@pytest.mark.slow
@pytest.mark.parametrize(
    "folder, offset, reference",
    [
        ("trackswitch", 60.0, {"drums": 15.2, "bass": 12.0, "other": 10.0}),
        ("waveform-playlist", 10.0, {"bass+drums": 11.3, "other": 6.4, "vocals": 12.2}),
    ],
)
def test_htdemucs_reference_figures_on_excerpts(htdemucs, folder, offset, reference):
    scores = evaluate_separation(MULTITRACK / folder, htdemucs, offset=offset, duration=7.5)
    assert set(scores) == set(reference)
    for target, figure in reference.items():
        assert scores[target] == pytest.approx(figure, abs=1.0), (target, scores)

"""SDR against hand-computed values; folder-of-stems evaluation with a scripted separator; the CLI command."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import typer
from typer.testing import CliRunner

from jaxsep.cli.separation import register
from jaxsep.constants import STEMS
from jaxsep.errors import AudioError, ConfigError
from jaxsep.separation.evaluation import evaluate_separation, sdr, stem_targets

RATE = 8_000


def test_sdr_hand_computed():
    # |s|^2 = 9 + 16 = 25, |s - s_hat|^2 = 0 + 1 = 1  ->  10 log10(25) dB.
    assert sdr(np.array([3.0, 4.0]), np.array([3.0, 3.0])) == pytest.approx(10 * math.log10(25.0))
    # Stereo, summed over both channels: |s|^2 = 1 + 4 + 4 + 1 = 10, error 0.25 + 1 + 0 + 0 = 1.25.
    reference = np.array([[1.0, 2.0], [2.0, -1.0]])
    estimate = np.array([[0.5, 1.0], [2.0, -1.0]])
    assert sdr(reference, estimate) == pytest.approx(10 * math.log10(10.0 / 1.25))
    # Silence as the estimate and twice the reference both leave an error as large as the signal: 0 dB.
    assert sdr(reference, np.zeros_like(reference)) == pytest.approx(0.0)
    assert sdr(reference, 2 * reference) == pytest.approx(0.0)
    assert sdr(reference, reference) == math.inf


def test_sdr_is_float64_on_float32_input():
    # Tiny errors on a float32 signal must not vanish in float32 rounding.
    reference = np.full((2, 1000), 1.0, np.float32)
    estimate = reference + np.float32(1e-4)
    assert sdr(reference, estimate) == pytest.approx(80.0, abs=0.01)


def test_sdr_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        sdr(np.zeros((2, 10)), np.zeros((1, 10)))
    with pytest.raises(ValueError, match="silent"):
        sdr(np.zeros((2, 10)), np.ones((2, 10)))


def _write(folder: Path, name: str, audio: np.ndarray, rate: int = RATE) -> np.ndarray:
    sf.write(folder / name, audio.T, rate, subtype="FLOAT")
    return audio


def _tone(freq: float, seconds: float = 2.0, channels: int = 2, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.2 * np.sin(2 * np.pi * freq * (1 + 0.1 * c) * t) for c in range(channels)]).astype(np.float32)


class ScriptedSeparator:
    """Returns fixed fractions of the true stems, so every SDR is known in advance; records what it was given."""

    name, signature, sample_rate, channels = "scripted", "scripted-1", RATE, 2

    def __init__(self, stems: dict[str, np.ndarray], gains: dict[str, float]):
        self.stems, self.gains, self.calls = stems, gains, []

    def separate(self, audio, sample_rate, *, progress=None):
        self.calls.append((audio.copy(), sample_rate))
        return {stem: self.gains[stem] * self.stems[stem] for stem in STEMS}


def test_stem_targets_maps_names_to_stems(tmp_path):
    for name in ("mixture", "Vocals30", "BassDrums30", "Guitar30", "PianoSynth30", "bassoon"):
        _write(tmp_path, f"{name}.wav", _tone(100))
    (tmp_path / "README.md").write_text("not audio")
    files = stem_targets(tmp_path)
    assert files.mixture == tmp_path / "mixture.wav"
    assert {target: [p.name for p in paths] for target, paths in files.targets.items()} == {
        "bass+drums": ["BassDrums30.wav"],
        "other": ["Guitar30.wav", "PianoSynth30.wav", "bassoon.wav"],
        "vocals": ["Vocals30.wav"],
    }
    remapped = stem_targets(tmp_path, stem_map={"PianoSynth30": "vocals", "vocals30": "ignore", "bassoon": "ignore"})
    assert {t: [p.name for p in paths] for t, paths in remapped.targets.items()} == {
        "bass+drums": ["BassDrums30.wav"], "other": ["Guitar30.wav"], "vocals": ["PianoSynth30.wav"],
    }
    with pytest.raises(ConfigError, match="both hold 'bass'"):
        stem_targets(tmp_path, stem_map={"bassoon": "bass"})


def test_stem_targets_refuses_overlaps_and_unknown_stems(tmp_path):
    for name in ("bass", "BassDrums", "synth"):
        _write(tmp_path, f"{name}.wav", _tone(100))
    with pytest.raises(ConfigError, match="both hold 'bass'"):
        stem_targets(tmp_path)
    with pytest.raises(ConfigError, match="guitar.*is not a stem"):
        stem_targets(tmp_path, stem_map={"bass": "guitar"})
    with pytest.raises(ConfigError, match="no stem audio files"):
        stem_targets(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_evaluate_separation_hand_computed(tmp_path):
    bass, drums, other = _tone(50), _tone(300), _tone(1000)
    _write(tmp_path, "BassDrums.wav", bass + drums)
    _write(tmp_path, "synth.wav", other * 0.5)
    _write(tmp_path, "violins.wav", other * 0.5)
    _write(tmp_path, "vocals.wav", np.zeros_like(bass))  # silent truth: no SDR
    stems = {"bass": bass + drums, "drums": bass + drums, "other": other, "vocals": np.zeros_like(bass)}
    # bass+drums estimate = (0.25 + 0.25) * truth -> error 0.25 |s|^2 -> 10 log10(4) dB;
    # other estimate = 0.9 * truth -> 10 log10(1 / 0.01) = 20 dB.
    separator = ScriptedSeparator(stems, {"bass": 0.25, "drums": 0.25, "other": 0.9, "vocals": 1.0})
    scores = evaluate_separation(tmp_path, separator)
    assert list(scores) == ["bass+drums", "other"]
    assert scores["bass+drums"] == pytest.approx(10 * math.log10(4.0), abs=1e-4)
    assert scores["other"] == pytest.approx(20.0, abs=1e-4)
    # No mixture file: the separator was given the sum of the stem files, at their rate.
    mix, rate = separator.calls[0]
    assert rate == RATE
    np.testing.assert_allclose(mix, bass + drums + other, atol=1e-6)


def test_evaluate_separation_window_and_mixture_file(tmp_path):
    _write(tmp_path, "drums.wav", _tone(300, seconds=3.0))
    _write(tmp_path, "other.wav", _tone(1000, seconds=3.0))
    mixture = _write(tmp_path, "mixture.wav", _tone(777, seconds=3.0))
    window_stems = {
        "bass": np.zeros((2, RATE)), "drums": _tone(300, 3.0)[:, RATE // 2: 3 * RATE // 2],
        "other": _tone(1000, 3.0)[:, RATE // 2: 3 * RATE // 2], "vocals": np.zeros((2, RATE)),
    }
    separator = ScriptedSeparator(window_stems, {"bass": 0.0, "drums": 1.0, "other": 0.5, "vocals": 0.0})
    scores = evaluate_separation(tmp_path, separator, offset=0.5, duration=1.0)
    assert scores["drums"] == math.inf
    assert scores["other"] == pytest.approx(10 * math.log10(4.0), abs=1e-4)
    # The mixture file is what gets separated (not the sum of the stems), cut to the window.
    np.testing.assert_allclose(separator.calls[0][0], mixture[:, RATE // 2: 3 * RATE // 2], atol=1e-7)


def test_evaluate_separation_names_a_stem_with_too_few_channels(tmp_path):
    _write(tmp_path, "mixture.wav", _tone(300, channels=3))
    _write(tmp_path, "drums.wav", _tone(300, channels=2))
    with pytest.raises(AudioError, match=r"drums.wav: cannot make 3 channels out of 2 \(the first file, "
                                         r"mixture.wav, has 3\)"):
        evaluate_separation(tmp_path, ScriptedSeparator({}, {}))


def test_evaluate_separation_refuses_misaligned_stems(tmp_path):
    _write(tmp_path, "drums.wav", _tone(300, seconds=2.0))
    _write(tmp_path, "other.wav", _tone(1000, seconds=1.0))
    with pytest.raises(AudioError, match="differ in length"):
        evaluate_separation(tmp_path, ScriptedSeparator({}, {}))


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """Keeps evaluate-separation a named sub-command, as in the real CLI."""

    return app


def test_cli_prints_sdr_table(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(3 * 22_050) / 22_050
    bass = np.stack([0.3 * np.sin(2 * np.pi * 55 * t)] * 2)
    clicks = np.zeros_like(bass)
    clicks[:, :: 22_050 // 4] = 1.0
    _write(tmp_path, "bass.wav", bass.astype(np.float32), 22_050)
    _write(tmp_path, "drums.wav", clicks.astype(np.float32), 22_050)
    _write(tmp_path, "keys.wav", 0.05 * rng.standard_normal(bass.shape).astype(np.float32), 22_050)
    result = CliRunner().invoke(_app(), ["evaluate-separation", str(tmp_path), "--separator", "dsp"])
    assert result.exit_code == 0, result.output
    for word in ("bass", "drums", "other", "keys.wav", "SDR (dB)", "dsp-v"):
        assert word in result.output
    assert "vocals" not in result.output  # no vocals file: no row, no SDR


def test_cli_reports_missing_weights_as_an_error(tmp_path):
    _write(tmp_path, "drums.wav", _tone(300))
    empty = _empty(tmp_path)
    result = CliRunner().invoke(
        _app(), ["evaluate-separation", str(tmp_path), "--separator", "demucs", "--model-repo", str(empty)]
    )
    assert result.exit_code == 1
    assert "error" in result.output and "htdemucs" in result.output
    bad = CliRunner().invoke(_app(), ["evaluate-separation", str(tmp_path / "missing"), "--separator", "dsp"])
    assert bad.exit_code != 0

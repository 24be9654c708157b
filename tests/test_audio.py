"""jaxsep.audio.files: decoding windows of every format, checks on bad audio, resampling, atomic writes."""

from __future__ import annotations

import os
import stat
import sys

import librosa
import numpy as np
import pytest
import soundfile as sf
from audio_helpers import tone, write

from jaxsep.audio import files as audio_module
from jaxsep.audio.files import (
    AudioInfo,
    audio_info,
    load_audio,
    match_channels,
    resample,
    write_audio,
)
from jaxsep.errors import AudioError


@pytest.mark.parametrize("suffix, kwargs", [(".wav", {}), (".flac", {}), (".mp3", {"format": "MP3"})])
def test_window_equals_slice_of_whole_file(tmp_path, suffix, kwargs):
    path = write(tmp_path / f"song{suffix}", tone(3.0, sample_rate=44_100, channels=2), 44_100, **kwargs)
    whole, rate = sf.read(path, dtype="float32", always_2d=True)
    window, window_rate = load_audio(path, offset=1.25, duration=0.5)
    assert window_rate == rate == 44_100
    assert window.shape == (2, 22_050) and window.dtype == np.float32
    np.testing.assert_array_equal(window, whole[55_125:77_175].T)


@pytest.mark.parametrize("subtype, rate", [("VORBIS", 44_100), ("OPUS", 48_000)])
def test_ogg_vorbis_and_opus(tmp_path, subtype, rate):
    path = write(tmp_path / "song.ogg", tone(2.0, sample_rate=rate), rate, format="OGG", subtype=subtype)
    audio, got = load_audio(path)
    assert got == rate and audio.shape[0] == 1
    assert abs(audio.shape[1] - 2 * rate) < 0.05 * rate


def test_mono_is_channel_mean_and_info_matches_header(tmp_path):
    stereo = tone(1.0, channels=2)
    path = write(tmp_path / "s.wav", stereo)
    audio, _ = load_audio(path, mono=True)
    np.testing.assert_allclose(audio[0], stereo.mean(axis=0), rtol=1e-6, atol=1e-7)
    info = audio_info(path)
    assert info == AudioInfo(sample_rate=22_050, channels=2, frames=22_050) and info.duration == 1.0


@pytest.mark.parametrize("rate", [8_000, 96_000])
def test_unusual_rates_resample_like_librosa(tmp_path, rate):
    source = tone(1.0, sample_rate=rate, freq=1_000.0)
    path = write(tmp_path / f"r{rate}.wav", source, rate)
    audio, got = load_audio(path, sample_rate=22_050)
    assert got == 22_050 and audio.shape == (1, 22_050)
    np.testing.assert_allclose(audio, librosa.resample(source, orig_sr=rate, target_sr=22_050, res_type="soxr_hq"),
                               atol=1e-6)
    spectrum = np.abs(np.fft.rfft(audio[0]))
    assert np.argmax(spectrum) == 1_000  # 1 Hz bins over one second: the tone stays at 1 kHz


def test_resample_keeps_sums():
    # Stems resampled one by one must still add up to the resampled mix (soxr is linear).
    parts = [tone(0.5, sample_rate=44_100, seed=s) for s in range(3)]
    joined = resample(sum(parts), orig_sr=44_100, target_sr=22_050)
    np.testing.assert_allclose(sum(resample(p, orig_sr=44_100, target_sr=22_050) for p in parts), joined, atol=1e-5)


def test_one_and_three_to_five_channels_load_and_convert(tmp_path):
    mono, _ = load_audio(write(tmp_path / "m.wav", tone(0.5)))
    assert mono.shape == (1, 11_025)
    np.testing.assert_array_equal(match_channels(mono, 2), np.vstack([mono, mono]))
    five = tone(0.5, channels=5)
    loaded, _ = load_audio(write(tmp_path / "five.wav", five))
    assert loaded.shape == (5, 11_025)
    np.testing.assert_array_equal(match_channels(loaded, 2), loaded[:2])  # front left/right, as demucs does


@pytest.mark.parametrize("channels", [6, 8])
def test_six_or_more_channels_are_refused(tmp_path, channels):
    path = write(tmp_path / "surround.wav", tone(0.5, channels=channels))
    with pytest.raises(AudioError, match=f"{channels} channels.*downmix"):
        load_audio(path)
    with pytest.raises(AudioError, match="channels"):
        audio_info(path)


def _bad_files(tmp_path):
    samples = tone(0.5)
    nan, inf = samples.copy(), samples.copy()
    nan[0, 100] = np.nan
    inf[0, 200] = np.inf
    (tmp_path / "zero_bytes.wav").write_bytes(b"")
    (tmp_path / "garbage.wav").write_bytes(b"RIFF\x00\x00 not really a wave file" * 20)
    (tmp_path / "text.mp3").write_text("this is not an mp3 " * 200)
    truncated = write(tmp_path / "full.wav", samples).read_bytes()[:30]
    (tmp_path / "truncated_header.wav").write_bytes(truncated)
    return {
        "missing.wav": "no such file",
        "zero_bytes.wav": "empty file",
        "garbage.wav": "cannot decode",
        "text.mp3": "cannot decode",
        "truncated_header.wav": "cannot decode",
        write(tmp_path / "no_frames.wav", np.zeros((1, 0), np.float32)).name: "zero-length",
        write(tmp_path / "silent.wav", np.zeros((2, 22_050), np.float32)).name: "silent",
        write(tmp_path / "nan.wav", nan).name: "not finite.*1 NaN",
        write(tmp_path / "inf.wav", inf).name: "not finite",
    }


def test_bad_files_raise_audio_error_naming_the_file(tmp_path):
    for name, problem in _bad_files(tmp_path).items():
        with pytest.raises(AudioError, match=problem) as raised:
            load_audio(tmp_path / name)
        assert raised.value.path == str(tmp_path / name)


def test_silent_window_allowed_for_true_stems(tmp_path):
    path = write(tmp_path / "vocals.wav", np.zeros((2, 1_000), np.float32))
    audio, _ = load_audio(path, allow_silent=True)
    assert audio.shape == (2, 1_000) and not audio.any()


def test_offset_past_end_and_bad_window(tmp_path):
    path = write(tmp_path / "s.wav", tone(1.0))
    with pytest.raises(AudioError, match="past the end"):
        load_audio(path, offset=2.0)
    with pytest.raises(AudioError, match="invalid window"):
        load_audio(path, offset=-1.0)
    short, _ = load_audio(path, offset=0.5, duration=5.0)  # cut at the end; callers pad or refuse
    assert short.shape == (1, 11_025)


def test_m4a_without_ffmpeg_names_ffmpeg(tmp_path, monkeypatch):
    path = tmp_path / "song.m4a"
    path.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(100))
    monkeypatch.setattr(audio_module.shutil, "which", lambda name: None)
    with pytest.raises(AudioError, match="ffmpeg") as raised:
        load_audio(path)
    assert str(path) in str(raised.value)


def test_m4a_goes_through_ffmpeg_with_the_window(tmp_path, monkeypatch):
    """A stand-in ffmpeg (decoding a wav disguised as .m4a) checks the command line and the read-back."""
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys, soundfile as sf\n"
        "a = sys.argv\n"
        "ss, t = float(a[a.index('-ss') + 1]), float(a[a.index('-t') + 1])\n"
        "assert a[a.index('-c:a') + 1] == 'pcm_f32le'\n"
        "data, rate = sf.read(a[a.index('-i') + 1], dtype='float32')\n"
        "sf.write(a[-1], data[round(ss * rate):round((ss + t) * rate)], rate, format='WAV', subtype='FLOAT')\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    source = tone(2.0, channels=2)
    path = write(tmp_path / "song.m4a", source, format="WAV", subtype="FLOAT")
    audio, rate = load_audio(path, offset=0.5, duration=1.0)
    assert rate == 22_050
    np.testing.assert_array_equal(audio, source[:, 11_025:33_075])


def test_write_audio_round_trips_and_is_atomic(tmp_path, monkeypatch):
    audio = tone(0.5, channels=2) * 3.0  # float wav keeps values beyond full scale (stem sums)
    path = write_audio(tmp_path / "out" / "stem.wav", audio, 22_050)
    back, rate = sf.read(path, dtype="float32", always_2d=True)
    np.testing.assert_array_equal(back.T, audio)
    assert rate == 22_050

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(audio_module.sf, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        write_audio(path, np.zeros((2, 10), np.float32), 22_050)
    np.testing.assert_array_equal(sf.read(path, dtype="float32", always_2d=True)[0].T, audio)  # old file intact
    assert sorted(p.name for p in path.parent.iterdir()) == ["stem.wav"]  # no temporary left behind
    with pytest.raises(ValueError, match="shape"):
        write_audio(tmp_path / "x.wav", np.zeros(10, np.float32), 22_050)

"""jaxsep.audio.layouts: the three layouts, and every per-file problem they report."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_helpers import tone, write

from jaxsep.audio.layouts import discover
from jaxsep.audio.songs import Problem, Song
from jaxsep.errors import DatasetError


def _wav(path: Path) -> Path:
    return write(path, tone(0.2))


def _problems_for(problems: list[Problem], fragment: str) -> list[Problem]:
    return [p for p in problems if fragment in p.problem]


def test_class_folders_with_bad_entries(tmp_path):
    for name in ("a.wav", "b.flac", "c.mp3"):
        (tmp_path / "house" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "house" / name).write_bytes(b"x")  # discovery goes by suffix; decoding checks come later
    _wav(tmp_path / "techno" / "t1.wav")
    _wav(tmp_path / "techno" / "t2.wav")
    (tmp_path / "techno" / "cover.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "techno" / "notes.txt").write_text("liner notes")
    (tmp_path / "techno" / ".DS_Store").write_bytes(b"\x00")
    _wav(tmp_path / "solo" / "only.wav")
    (tmp_path / "empty").mkdir()
    songs, problems = discover(tmp_path)
    assert [s.song_id for s in songs] == ["house/a", "house/b", "house/c", "techno/t1", "techno/t2"]
    assert {s.label for s in songs} == {"house", "techno"}
    assert songs[3] == Song(song_id="techno/t1", path=tmp_path / "techno" / "t1.wav", label="techno")
    skipped = {Path(p.file).name for p in _problems_for(problems, "not an audio file")}
    assert skipped == {"cover.jpg", "notes.txt"}  # hidden files are skipped silently
    assert [p.file for p in _problems_for(problems, "holds no songs")] == [str(tmp_path / "empty")]
    single = _problems_for(problems, "class 'solo' has 1 usable song")
    assert len(single) == 1 and len(problems) == 4


def test_song_folders_carry_their_stems(tmp_path):
    for song in ("s1", "s2"):
        for name in ("mixture", "bass", "drums", "other", "vocals"):
            _wav(tmp_path / "rock" / song / f"{name}.wav")
    _wav(tmp_path / "rock" / "s3" / "bass.wav")  # no mixture
    _wav(tmp_path / "rock" / "s4" / "mixture.flac")
    _wav(tmp_path / "rock" / "s4" / "vocals.flac")
    songs, problems = discover(tmp_path)
    by_id = {s.song_id: s for s in songs}
    assert sorted(by_id) == ["rock/s1", "rock/s2", "rock/s4"]
    assert by_id["rock/s1"].path.name == "mixture.wav"
    assert by_id["rock/s1"].stems == {n: tmp_path / "rock" / "s1" / f"{n}.wav" for n in ("bass", "drums", "other", "vocals")}
    assert list(by_id["rock/s4"].stems) == ["vocals"]  # partial: only --separator given objects to it
    assert [Path(p.file).name for p in problems] == ["s3"] and "mixture" in problems[0].problem


def test_manifest(tmp_path):
    for name in ("a.wav", "b.wav", "c.wav", "stems/bass.wav", "stems/drums.wav", "stems/other.wav", "stems/vocals.wav"):
        _wav(tmp_path / name)
    manifest = tmp_path / "list.csv"
    manifest.write_text(
        "path,label,start,bass,drums,other,vocals\n"
        "a.wav,house,12.5,stems/bass.wav,stems/drums.wav,stems/other.wav,stems/vocals.wav\n"
        f"{tmp_path / 'b.wav'},house,,,,,\n"
        "c.wav,techno,,,,,\n"
        "c.wav,techno,30,,,,\n"
        "missing.wav,techno,,,,,\n"
        "b.wav,techno,soon,,,,\n"
        "b.wav,techno,,stems/bass.wav,gone.wav,,\n"
    )
    songs, problems = discover(manifest)
    assert [(s.song_id, s.label, s.start) for s in songs] == [
        ("a", "house", 12.5), ("b", "house", None), ("c", "techno", None),
        ("c#2", "techno", 30.0)]
    assert songs[0].stems["drums"] == tmp_path / "stems" / "drums.wav"
    assert [(p.file, p.problem.split(":")[0]) for p in problems] == [
        (f"{manifest}:6", "no such file"), (f"{manifest}:7", "start 'soon' is not a number of seconds"),
        (f"{manifest}:8", "no such stem file(s)")]


@pytest.mark.parametrize("header, problem", [("file,genre\n", "lacks column"), ("path,label,tempo\n", "unknown")])
def test_manifest_header_errors(tmp_path, header, problem):
    manifest = tmp_path / "m.csv"
    manifest.write_text(header + "a.wav,x,1\n")
    with pytest.raises(DatasetError, match=problem):
        discover(manifest)


def test_giantsteps_layout_and_class_filter(tmp_path):
    genres = {"1001.LOFI": "trance", "1002.LOFI": "Techno", "1003.LOFI": "trance", "1004.LOFI": "techno",
              "1005.LOFI": "dubstep"}
    for name, genre in genres.items():
        write(tmp_path / "audio" / f"{name}.mp3", tone(0.3), format="MP3")
        (tmp_path / "annotations" / "genre").mkdir(parents=True, exist_ok=True)
        (tmp_path / "annotations" / "genre" / f"{name}.genre").write_text(genre + "\n")
    write(tmp_path / "audio" / "1006.LOFI.mp3", tone(0.3), format="MP3")  # no annotation
    songs, problems = discover(tmp_path, classes=["TRANCE", "dubstep"])
    assert [(s.song_id, s.label) for s in songs] == [("1001.LOFI", "trance"), ("1003.LOFI", "trance")]
    assert "no genre annotation" in problems[0].problem and problems[0].file.endswith("1006.LOFI.mp3")
    assert "class 'dubstep' has 1 usable song" in problems[1].problem
    with pytest.raises(DatasetError, match="no songs of class.*'polka'"):
        discover(tmp_path, classes=["polka"])


def test_unreadable_data_sets(tmp_path):
    with pytest.raises(DatasetError, match="no such file or folder"):
        discover(tmp_path / "nowhere")
    _wav(tmp_path / "loose.wav")
    with pytest.raises(DatasetError, match="no class folders.*one sub-folder per class"):
        discover(tmp_path)
    _wav(tmp_path / "only" / "one.wav")
    with pytest.raises(DatasetError, match="no usable songs.*'only' has 1"):
        discover(tmp_path)
    with pytest.raises(DatasetError, match="not a folder"):
        discover(tmp_path / "loose.wav")

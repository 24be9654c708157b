"""jaxsep.audio.layouts: every layout (fixtures built here), and every per-file problem they report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audio_helpers import tone, write

from jaxsep.audio.layouts import _single_class_root, discover, read_giantsteps_plus
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
    assert all(s.artists == () for s in songs)  # class folders name no artists
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


def test_manifest_rows_with_an_unknown_home_or_no_finite_start(tmp_path):
    for name in ("a.wav", "b.wav", "c.wav"):
        _wav(tmp_path / name)
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,label,start,bass\n"
                        "a.wav,house,,\n"
                        "b.wav,house,,\n"
                        "~no-such-user-of-jaxsep/c.wav,house,,\n"
                        "c.wav,house,,~no-such-user-of-jaxsep/bass.wav\n"
                        "c.wav,house,nan,\n"
                        "c.wav,house,inf,\n")
    songs, problems = discover(manifest)
    assert [s.song_id for s in songs] == ["a", "b"]
    assert [p.file for p in problems] == [f"{manifest}:{line}" for line in (4, 5, 6, 7)]
    assert [p.problem.split(":")[0] for p in problems] == [
        "cannot expand '~no-such-user-of-jaxsep/c.wav'", "cannot expand '~no-such-user-of-jaxsep/bass.wav'",
        "start 'nan' is not a finite number of seconds", "start 'inf' is not a finite number of seconds"]


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
    assert all(s.artists == () for s in songs)  # nor does GiantSteps key
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


_SOMEONE = [{"id": 7, "name": "Someone"}]


def _beatport(path: Path, genre: str | None, sub_genre: str | None = None, track_id: int = 1,
              artists=_SOMEONE) -> Path:
    """A Beatport JSON file as GiantSteps+ holds them (``genres`` / ``sub_genres`` of ``{id, name, slug}``,
    ``artists`` of ``{id, name}``; ``artists=None`` leaves the entry out)."""
    record = {"id": track_id, "bpm": 126,
              "genres": [] if genre is None else [{"id": 5, "name": genre, "slug": genre.lower().replace(" ", "-")}],
              "sub_genres": [] if sub_genre is None else [{"id": 9, "name": sub_genre, "slug": "x"}]}
    if artists is not None:
        record["artists"] = artists
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def _giantsteps_plus(root: Path) -> Path:
    """audio/<id> <Artist> - <Title>.mp3 (here wav bodies with the data set's names) + meta/ + keys_gs+/."""
    tracks = {
        "10089 Jason Sparks - Close My Eyes feat. J. Little (Original Mix)": ("Drum & Bass", "Liquid"),
        "10123 A - B (Club Mix)": ("Drum & Bass", None),
        "20001 C - D": ("Indie Dance / Nu Disco", "Nu Disco"),
        "20002 E - F": ("Indie Dance / Nu Disco", None),
    }
    for name, (genre, sub) in tracks.items():
        _wav(root / "audio" / f"{name}.wav")
        (root / "keys_gs+").mkdir(parents=True, exist_ok=True)
        (root / "keys_gs+" / f"{name}.txt").write_text("C minor")
        _beatport(root / "meta" / f"{name}.json", genre, sub)
    # matched by its leading id only (the audio file's title is spelt differently)
    _wav(root / "audio" / "20003 G - H (Original mix).wav")
    _beatport(root / "meta" / "20003 G - H (Original Mix).json", "Indie Dance / Nu Disco")
    _wav(root / "audio" / "30000 No - Meta.wav")  # no meta at all
    _wav(root / "audio" / "30001 No - Genre.wav")
    _beatport(root / "meta" / "30001 No - Genre.json", None)
    return root


def test_giantsteps_plus_is_labelled_by_beatport_genre(tmp_path):
    root = _giantsteps_plus(tmp_path / "gs+")
    songs, problems = discover(root)
    labels = {s.song_id: s.label for s in songs}
    assert labels == {
        "10089 Jason Sparks - Close My Eyes feat. J. Little (Original Mix)": "Drum & Bass",
        "10123 A - B (Club Mix)": "Drum & Bass",
        "20001 C - D": "Indie Dance / Nu Disco",
        "20002 E - F": "Indie Dance / Nu Disco",
        "20003 G - H (Original mix)": "Indie Dance / Nu Disco",
    }
    assert "audio" not in {s.label for s in songs}  # the misreading this layout fixes
    reported = {Path(p.file).name: p.problem for p in problems}
    assert "no Beatport meta" in reported["30000 No - Meta.wav"]
    assert "no genre" in reported["30001 No - Genre.json"]


def test_giantsteps_plus_sub_genre_falls_back_to_the_genre(tmp_path):
    root = _giantsteps_plus(tmp_path / "gs+")
    songs, _ = read_giantsteps_plus(root, label="sub-genre")  # before classes of one song are dropped
    labels = {s.song_id.split()[0]: s.label for s in songs}
    assert labels["10089"] == "Liquid" and labels["10123"] == "Drum & Bass" and labels["20001"] == "Nu Disco"
    with pytest.raises(DatasetError, match="unknown label"):
        discover(root, label="mood")


def test_giantsteps_tempo_keeps_its_hyphenated_labels(tmp_path):
    root = tmp_path / "tempo"
    for name, genre in [("1030011.LOFI", "indie-dance-nu-disco"), ("1030012.LOFI", "indie-dance-nu-disco"),
                        ("1111.LOFI", "funk-r-and-b"), ("1112.LOFI", "funk-r-and-b")]:
        _wav(root / "audio" / f"{name}.wav")
        (root / "annotations" / "genre").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / "genre" / f"{name}.genre").write_text(genre)
        (root / "annotations" / "tempo").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / "tempo" / f"{name}.bpm").write_text("120")
    songs, problems = discover(root)
    assert sorted({s.label for s in songs}) == ["funk-r-and-b", "indie-dance-nu-disco"] and not problems


def test_a_gtzan_root_is_read_through_its_single_genres_folder(tmp_path):
    for genre in ("blues", "jazz"):
        for k in range(2):
            _wav(tmp_path / "genres" / genre / f"{genre}.0000{k}.wav")
    notes = []
    songs, problems = discover(tmp_path, say=notes.append)
    assert sorted({s.label for s in songs}) == ["blues", "jazz"] and len(songs) == 4 and not problems
    assert len(notes) == 1 and "genres/" in notes[0]
    # a root with one class of song folders (mixture + stems) is not descended into
    for song in ("s1", "s2"):
        _wav(tmp_path / "one" / "rock" / song / "mixture.wav")
    assert _single_class_root(tmp_path / "one") is None


def _two_files_of_one_track(root: Path, layout: str) -> str:
    """A GiantSteps (key) or GiantSteps+ folder of two tracks, the first also as an mp3 beside its wav: the
    name of that track."""
    names = ["1001.LOFI", "1002.LOFI"] if layout == "key" else ["10089 A - B", "10090 C - D"]
    for name in names:
        _wav(root / "audio" / f"{name}.wav")
        if layout == "key":
            (root / "annotations" / "genre").mkdir(parents=True, exist_ok=True)
            (root / "annotations" / "genre" / f"{name}.genre").write_text("trance")
        else:
            _beatport(root / "meta" / f"{name}.json", "Trance")
    (root / "audio" / f"{names[0]}.mp3").write_bytes(b"x")  # discovery goes by suffix; decoding comes later
    return names[0]


@pytest.mark.parametrize("layout", ["key", "plus"])
def test_giantsteps_files_of_one_track_are_one_song(tmp_path, layout):
    """``x.mp3`` beside ``x.wav``: one annotation labels one track, so the file after the first (sorted) is
    reported at discovery, naming both, and skipped; two songs with the id ``x`` made save_features refuse the
    file at the very end, after all the separation work."""
    name = _two_files_of_one_track(tmp_path, layout)
    songs, problems = discover(tmp_path)
    ids = [s.song_id for s in songs]
    assert len(set(ids)) == len(ids), f"song ids repeat: {ids}"
    assert [s.path.name for s in songs] == [f"{name}.mp3", songs[1].path.name] and len(songs) == 2
    assert [Path(p.file).name for p in problems] == [f"{name}.wav"]
    assert f"{name}.mp3" in problems[0].problem and "skipped" in problems[0].problem


def test_giantsteps_plus_songs_carry_every_beatport_artist(tmp_path):
    """Every ``artists`` name, in order (two tracks share Jason Sparks); a missing or malformed entry gives
    ``()`` and no problem; entries without a name are passed over."""
    tracks = {
        "10089 Jason Sparks - Close My Eyes feat. J. Little (Original Mix)":
            [{"id": 11, "name": "Jason Sparks"}, {"id": 12, "name": "J. Little"}],
        "10090 Jason Sparks - Solo (Original Mix)": [{"id": 11, "name": "Jason Sparks"}],
        "10091 Nobody - Missing": None,
        "10092 Nobody - Malformed": {"id": 13, "name": "Not a list"},
        "10093 Dee - Partly": [{"id": 14}, "Loose", {"id": 15, "name": " Dee "}, {"id": 15, "name": "Dee"}],
    }
    for name, artists in tracks.items():
        _wav(tmp_path / "audio" / f"{name}.wav")
        _beatport(tmp_path / "meta" / f"{name}.json", "Trance", artists=artists)
    songs, problems = discover(tmp_path)
    assert [(s.song_id.split()[0], s.artists) for s in songs] == [
        ("10089", ("Jason Sparks", "J. Little")), ("10090", ("Jason Sparks",)), ("10091", ()), ("10092", ()),
        ("10093", ("Dee",))]
    assert problems == []


def test_manifest_artist_column(tmp_path):
    for name in ("a.wav", "b.wav", "c.wav", "d.wav"):
        _wav(tmp_path / name)
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,label,Artist\n"
                        "a.wav,house,Bob Marley; The Wailers\n"
                        "b.wav,house,\n"
                        "c.wav,reggae, The Wailers ;\n"
                        "d.wav,reggae,\"A, B & C\"\n")
    songs, problems = discover(manifest)
    assert [(s.song_id, s.artists) for s in songs] == [
        ("a", ("Bob Marley", "The Wailers")), ("b", ()), ("c", ("The Wailers",)), ("d", ("A, B & C",))]
    assert problems == []

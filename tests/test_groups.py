"""Artist-grouped splits: no artist on both sides of a split, exact sizes from whole groups, stratified where the
groups allow; connected groups and achievable sizes against hand-worked answers."""

import numpy as np
import pytest

from jaxsep.errors import ConfigError
from jaxsep.training.groups import achievable_size, artist_groups, group_holdout, parse_artists
from jaxsep.training.splits import _per_class_holdout, make_splits, trial_split

SEEDS = range(30)


def _catalogue() -> tuple[np.ndarray, list[str]]:
    """60 songs, 10 per class, by artists with 4, 3, 2 and 1 songs per class; four songs also credit an
    artist of another class (spelt differently), which joins groups across classes."""
    labels, artists = [], []
    for label in range(6):
        for artist, songs in enumerate([4, 3, 2, 1]):
            labels += [label] * songs
            artists += [f"Artist {label}{artist}"] * songs
    for song, guest in [(0, " ARTIST 13"), (15, "artist 23 "), (35, "Artist 52"), (55, "artist 01")]:
        artists[song] += f";{guest}"
    return np.array(labels), artists


def test_parse_artists():
    assert parse_artists("Bob Marley; The Wailers ;") == ("Bob Marley", "The Wailers")
    assert parse_artists("") == () and parse_artists(" ; ") == ()


def test_connected_groups_by_hand():
    songs = [("A", "B"), ("b ", "C"), ("D",), (), ("c",), (), ("D", "E")]
    # A;B and B;C join A, B, C (case and spaces ignored); each song without an artist is alone
    np.testing.assert_array_equal(artist_groups(songs), [0, 0, 1, 2, 0, 3, 1])


def test_catalogue_groups():
    labels, artists = _catalogue()
    groups = artist_groups([parse_artists(a) for a in artists])
    sizes = np.bincount(groups)
    # 24 artists; the guests join 00+13 (4+1), 11+23 (3+1), 31+52 (3+2) and 51+01 (3+3): 20 groups
    assert len(sizes) == 20
    rest = [2, 1] + [4, 2] + [4, 3, 2] + [4, 2, 1] + [4, 3, 2, 1] + [4, 1]  # the other artists, class by class
    assert sorted(sizes.tolist()) == sorted([5, 4, 5, 6] + rest)


def test_achievable_size_by_hand():
    assert achievable_size([5, 5, 5], 7) == 5  # sums 5, 10 (15 leaves nothing): 5 is nearer
    assert achievable_size([3, 4], 7) == 4  # 7 would take every song: 3 or 4, and 4 is nearer
    assert achievable_size([2, 4], 3) == 2  # 2 and 4 tie: the smaller
    assert achievable_size([1] * 10, 0) == 1  # at least one song
    assert achievable_size([3, 4, 5], 12, largest=8) == 8
    with pytest.raises(ConfigError, match=r"between 1 and 5 songs \(group sizes \[6\]\)"):
        achievable_size([6], 2)


def test_forced_holdout_by_hand():
    labels = np.array([0, 0, 1, 1, 1, 0, 0, 1, 1])
    groups = np.array([7, 7, 3, 3, 3, 9, 9, 9, 9])  # sizes 2, 3, 4: each size is one union only
    for seed in range(5):
        rng = np.random.default_rng(seed)
        np.testing.assert_array_equal(group_holdout(labels, groups, 5, rng, 2), [0, 1, 2, 3, 4])
        np.testing.assert_array_equal(group_holdout(labels, groups, 6, rng, 2), [0, 1, 5, 6, 7, 8])
    with pytest.raises(ConfigError, match="exactly 1 songs"):
        group_holdout(labels, groups, 1, np.random.default_rng(0), 2)


def test_holdout_stratified_by_hand():
    # groups {0,0}, {1,1}, {0,1}, {0,1}, quotas 1 and 1 out of 2: a pure group first is as far off as nothing
    # (a tie leaves it), so the first mixed group is taken. Out of 4 (quotas 2 and 2) the walk is greedy:
    # order B, C takes {1,1} then {0,1}, leaving 1 and 3; a class is never more than one song off there
    labels = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    four = set()
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        np.testing.assert_array_equal(np.bincount(labels[group_holdout(labels, groups, 2, rng, 2)]), [1, 1])
        four.add(tuple(np.bincount(labels[group_holdout(labels, groups, 4, rng, 2)], minlength=2)))
    assert four <= {(2, 2), (1, 3), (3, 1)} and (2, 2) in four


def test_singleton_groups_stratify_like_ungrouped_split():
    labels = np.repeat(np.arange(6), [8, 14, 10, 12, 9, 13])
    counts = np.bincount(labels)
    for seed in range(10):
        grouped = trial_split(labels, seed, n_classes=6, validation_fraction=0.2, groups=np.arange(66))
        plain = trial_split(labels, seed, n_classes=6, validation_fraction=0.2)
        np.testing.assert_array_equal(np.bincount(labels[grouped.test], minlength=6),
                                      _per_class_holdout(counts, 0.2))  # [2, 3, 2, 2, 2, 2]
        val_grouped = np.bincount(labels[grouped.validation], minlength=6)
        val_plain = np.bincount(labels[plain.validation], minlength=6)
        assert len(grouped.validation) == len(plain.validation) == 11
        assert np.all(np.abs(val_grouped - val_plain) <= 1)


def test_no_artist_on_both_sides():
    labels, artists = _catalogue()
    names = [{n.casefold() for n in parse_artists(a)} for a in artists]
    groups = artist_groups([parse_artists(a) for a in artists])
    stacked = make_splits(labels, SEEDS, n_classes=6, test_fraction=0.2, validation_fraction=0.2, groups=groups)
    # every trial has the same sizes: 12 = round(0.2 · 60) and 10 = round(0.2 · 48) are both unions of groups
    assert stacked["test"].shape == (30, 12) and stacked["validation"].shape == (30, 10)
    assert stacked["train"].shape == (30, 38)
    for t in range(len(SEEDS)):
        parts = [stacked[p][t] for p in ("train", "test", "validation")]
        np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(60))
        sides = [set().union(*(names[s] for s in part)) for part in parts]
        assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
        assert set(labels[parts[0]]) == set(range(6))  # the groups allow a training song in every class
    assert len({tuple(t) for t in stacked["test"]}) > 25  # seeds give different splits
    again = trial_split(labels, 7, n_classes=6, validation_fraction=0.2, groups=groups)
    np.testing.assert_array_equal(again.test, stacked["test"][7])
    np.testing.assert_array_equal(again.validation, stacked["validation"][7])


def test_one_group_is_an_error():
    with pytest.raises(ConfigError, match="no grouped test split of 6 songs"):
        trial_split(np.array([0, 0, 0, 1, 1, 1]), 0, n_classes=2, groups=np.zeros(6, dtype=int))


def test_validation_size_out_of_reach_is_an_error():
    # sizes 1, 4, 5: the test part is the 1-song group (nearest 2), validation would be 1 song (nearest 2 of
    # sums <= 8), but the training groups 4 and 5 never make 1
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    groups = np.array([0, 1, 1, 1, 1, 2, 2, 2, 2, 2])
    with pytest.raises(ConfigError, match="never made a validation part of exactly 1 songs"):
        trial_split(labels, 0, n_classes=2, validation_fraction=0.2, groups=groups)


def test_group_ids_must_match_songs():
    with pytest.raises(ConfigError, match="3 group ids for 4 songs"):
        trial_split(np.array([0, 0, 1, 1]), 0, n_classes=2, groups=np.arange(3))


def test_a_run_split_by_artist_keeps_each_artist_on_one_side():
    """The run's own plan (what every model and the reference train on) is artist-grouped."""
    import dataclasses

    from jaxsep.config import RunConfig
    from jaxsep.errors import FeatureFileError
    from jaxsep.features.toy import toy_features
    from jaxsep.training.experiment import trial_plan

    toy = toy_features(songs_per_class=(6, 6, 6), n_mels=8, frames=8)
    # pairs of songs by one artist; every fifth song also credits a guest, which joins those pairs into one group
    artists = tuple(f"artist{i // 2}" + ("; guest" if i % 5 == 0 else "") for i in range(18))
    features = dataclasses.replace(toy, artists=artists)
    plan = trial_plan(features, RunConfig(models=("novox",), trials=6, group_by="artist"))
    for test in plan.songs["test"]:
        train = np.setdiff1d(np.arange(18), test)
        names = [{name.strip() for song in part for name in artists[song].split(";")} for part in (test, train)]
        assert not names[0] & names[1]
    with pytest.raises(FeatureFileError, match="names no artists"):
        trial_plan(toy, RunConfig(models=("novox",), trials=2, group_by="artist"))

"""Per-trial train/test(/validation) splits and Keras-style class weights, in numpy.

Trial ``t`` of a run with seed ``s`` draws its split from ``np.random.default_rng(s + t)``, so the four
models of a trial share the split and ``--seed 5 --trials 1`` reproduces trial 5 of ``--seed 0``.
Every trial of a data set has the same split sizes (they depend only on the class counts, or with artist
groups on the group sizes), which lets the engine stack the trials' index arrays.

With ``groups`` (:mod:`jaxsep.training.groups`) every part is a union of whole groups, so songs of one artist
never sit on both sides of a trial's split; parts are stratified by class only as far as the groups allow, and
a class may then have no training song in a trial (its class weight is 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .groups import achievable_size, group_holdout


@dataclass(frozen=True)
class Split:
    """Song indices of one trial: ``train``, ``test`` and (possibly empty) ``validation``, sorted."""

    train: np.ndarray
    test: np.ndarray
    validation: np.ndarray


def _per_class_holdout(counts: np.ndarray, fraction: float) -> np.ndarray:
    """Songs held out per class: ``round(fraction · total)`` in all, shared out in proportion to the class
    sizes by largest remainder (ties to the lower class index), each class holding out at least 1 and
    keeping at least 1. Depends only on ``counts``, so every trial has the same split sizes."""
    total = int(np.clip(round(counts.sum() * fraction), 1, counts.sum() - 1))
    share = counts * fraction
    sizes = np.clip(np.floor(share).astype(int), 1, np.maximum(counts - 1, 1))
    sizes[counts == 0] = 0
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    for label in np.concatenate([order, order]):  # a second pass if some classes were full
        if sizes.sum() >= total:
            break
        if 0 < counts[label] and sizes[label] < counts[label] - 1 and sizes[label] < np.ceil(share[label]):
            sizes[label] += 1
    return sizes


def _holdout(labels: np.ndarray, fraction: float, rng: np.random.Generator, n_classes: int) -> np.ndarray:
    """Positions (into ``labels``) held out: stratified where every class has >= 2 members, else a plain
    random draw of ``round(fraction · n)`` (at least 1). Sizes depend only on the class counts."""
    counts = np.bincount(labels, minlength=n_classes)
    present = counts[counts > 0]
    if present.min() >= 2:
        held = []
        sizes = _per_class_holdout(counts, fraction)
        for label in np.nonzero(counts)[0]:
            members = np.nonzero(labels == label)[0]
            held.append(rng.choice(members, size=sizes[label], replace=False))
        return np.sort(np.concatenate(held))
    size = int(np.clip(round(len(labels) * fraction), 1, len(labels) - 1))
    return np.sort(rng.choice(len(labels), size=size, replace=False))


def check_splittable(labels: np.ndarray, n_classes: int, classes=None) -> None:
    """Raises ConfigError when a class has fewer than 2 songs (no train/test split possible)."""
    counts = np.bincount(labels, minlength=n_classes)
    small = [int(c) for c in np.nonzero(counts < 2)[0]]
    if small:
        names = [classes[c] if classes is not None else c for c in small]
        raise ConfigError(
            f"class(es) {names} have fewer than 2 songs ({[int(counts[c]) for c in small]}): "
            "no 80/20 train/test split is possible"
        )


def trial_split(
    labels: np.ndarray,
    seed: int,
    *,
    n_classes: int,
    test_fraction: float = 0.2,
    validation_fraction: float | None = None,
    groups: np.ndarray | None = None,
) -> Split:
    """Draws one trial's split.

    Args:
      labels: int class of each song, shape ``(songs,)``.
      seed: this trial's seed (run seed + trial index).
      n_classes: number of classes.
      test_fraction: share of each class in the test split.
      validation_fraction: if given, share of the training split carved out for validation (stratified
        where every class of the training split allows it).
      groups: if given, int group id of each song, shape ``(songs,)`` (e.g.
        :func:`jaxsep.training.groups.artist_groups`): every part is then a union of whole groups
        (:func:`_grouped_split`).

    Returns:
      the :class:`Split`.

    Raises:
      ConfigError: a class with fewer than 2 songs; with ``groups``, no union of whole groups of a usable size.
    """
    labels = np.asarray(labels)
    check_splittable(labels, n_classes)
    rng = np.random.default_rng(seed)
    if groups is not None:
        return _grouped_split(labels, np.asarray(groups), rng, n_classes, test_fraction, validation_fraction)
    test = _holdout(labels, test_fraction, rng, n_classes)
    train = np.setdiff1d(np.arange(len(labels)), test)
    return _with_validation(labels, train, test, validation_fraction, rng, n_classes)


def _with_validation(labels: np.ndarray, train: np.ndarray, test: np.ndarray, fraction: float | None,
                     rng: np.random.Generator, n_classes: int) -> Split:
    """The split of ``train`` and ``test``, a stratified ``fraction`` of the training songs carved off as the
    validation part when ``fraction`` is given.

    Raises:
      ConfigError: a validation part asked of fewer than two training songs.
    """
    validation = np.zeros(0, dtype=int)
    if fraction is not None:
        if len(train) < 2:
            raise ConfigError(f"a training split of {len(train)} song(s) leaves none for validation")
        validation = train[_holdout(labels[train], fraction, rng, n_classes)]
        train = np.setdiff1d(train, validation)
    return Split(train=train, test=test, validation=validation)


def curve_split(
    labels: np.ndarray,
    seed: int,
    *,
    n_classes: int,
    train_per_class: int,
    largest_per_class: int,
    validation_fraction: float | None = None,
) -> Split:
    """One trial's split at one size of a data-size curve.

    Each class's songs are put in a random order drawn from the trial's seed alone; the last
    ``n_c − min(largest_per_class, n_c − 1)`` are its test songs (the same at every size: as many as the curve's
    largest size leaves), and its first ``min(train_per_class, ·)`` of the rest are its training songs, so a
    trial's training songs at a smaller size are a subset of those at a larger one. A validation part, when
    asked for, is carved from those training songs as :func:`trial_split` carves it.

    Args:
      labels: int class of each song, ``(songs,)``.
      seed: this trial's seed.
      n_classes: number of classes.
      train_per_class: this size: training songs per class (a class with fewer keeps all it has).
      largest_per_class: the curve's largest size, which fixes the test songs.
      validation_fraction: as :func:`trial_split`'s.

    Returns:
      the :class:`Split` (sizes depend only on the class counts and the two sizes, so trials stack).

    Raises:
      ConfigError: a class with fewer than 2 songs, or sizes below 1 or in the wrong order.
    """
    labels = np.asarray(labels)
    check_splittable(labels, n_classes)
    if not 1 <= train_per_class <= largest_per_class:
        raise ConfigError(f"need 1 <= songs per class ({train_per_class}) <= the largest size ({largest_per_class})")
    rng = np.random.default_rng(seed)
    test, train = [], []
    for label in range(n_classes):
        members = rng.permutation(np.nonzero(labels == label)[0])
        if not len(members):
            continue
        pool = min(largest_per_class, len(members) - 1)
        test.append(members[pool:])
        train.append(members[:min(train_per_class, pool)])
    test, train = np.sort(np.concatenate(test)), np.sort(np.concatenate(train))
    return _with_validation(labels, train, test, validation_fraction, rng, n_classes)


_GROUPED_TRIES = 100
"""Test draws tried per trial before giving up on a validation split of the fixed size."""


def grouped_sizes(
    groups: np.ndarray, test_fraction: float, validation_fraction: float | None = None
) -> tuple[int, int]:
    """Songs in the test and validation parts of every trial of a grouped split; they depend only on the
    group sizes, so all trials of a run stack.

    The test size is the union of whole groups nearest ``round(test_fraction · n)``; the validation size the
    one nearest ``round(validation_fraction · n_train)`` that the groups can make below ``n_train``
    (0 without ``validation_fraction``). Which groups are left for training differs per trial:
    :func:`_grouped_split` redraws a trial's test part until they can make it.

    Args:
      groups: group id of each song, shape ``(songs,)``.

    Returns:
      ``(n_test, n_validation)``.

    Raises:
      ConfigError: when whole groups cannot make a test (or validation) part of 1 song or more that leaves
        at least one song on the other side.
    """
    sizes = np.unique(np.asarray(groups), return_counts=True)[1]
    try:
        n_test = achievable_size(sizes, round(test_fraction * len(groups)))
    except ConfigError as error:
        raise ConfigError(f"no grouped test split of {len(groups)} songs: {error}") from None
    if validation_fraction is None:
        return n_test, 0
    n_train = len(groups) - n_test
    try:
        n_validation = achievable_size(sizes, round(validation_fraction * n_train), largest=n_train - 1)
    except ConfigError as error:
        raise ConfigError(f"a grouped training split of {n_train} songs leaves none for validation: {error}") from None
    return n_test, n_validation


def _grouped_split(
    labels: np.ndarray,
    groups: np.ndarray,
    rng: np.random.Generator,
    n_classes: int,
    test_fraction: float,
    validation_fraction: float | None,
) -> Split:
    """:func:`trial_split` with whole groups: test = :func:`group_holdout` of the fixed test size, validation
    the same over the training songs; the test part is redrawn (same ``rng``, at most ``_GROUPED_TRIES``
    times) until the training groups can make the fixed validation size."""
    if groups.shape != labels.shape:
        raise ConfigError(f"{len(groups)} group ids for {len(labels)} songs: need one per song")
    n_test, n_validation = grouped_sizes(groups, test_fraction, validation_fraction)
    songs = np.arange(len(labels))
    for _ in range(_GROUPED_TRIES):
        test = group_holdout(labels, groups, n_test, rng, n_classes)
        train = np.setdiff1d(songs, test)
        if validation_fraction is None:
            return Split(train=train, test=test, validation=np.zeros(0, dtype=int))
        if _makes(groups[train], n_validation):
            validation = train[group_holdout(labels[train], groups[train], n_validation, rng, n_classes)]
            return Split(train=np.setdiff1d(train, validation), test=test, validation=validation)
    raise ConfigError(
        f"in {_GROUPED_TRIES} draws of a {n_test}-song grouped test part, the groups left for training never "
        f"made a validation part of exactly {n_validation} songs: use other fractions or fewer, smaller groups"
    )


def _makes(groups: np.ndarray, total: int) -> bool:
    """Whether whole groups of ``groups`` (ids, ``(songs,)``) hold exactly ``total`` songs, one song left over."""
    sizes = np.unique(groups, return_counts=True)[1]
    try:
        return achievable_size(sizes, total, largest=total) == total
    except ConfigError:
        return False


def class_weights(train_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Keras/scikit-learn ``balanced`` weights ``n / (n_classes_present · count)``; 0 for absent classes.

    Args:
      train_labels: labels of the training songs, shape ``(n_train,)``.

    Returns:
      float32 weights, shape ``(n_classes,)``.
    """
    counts = np.bincount(train_labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = len(train_labels) / (present.sum() * counts[present])
    return weights.astype(np.float32)


def stack_splits(splits: list[Split]) -> dict[str, np.ndarray]:
    """Stacks equally sized splits into int32 arrays ``train (trials, n_train)``, ``test (trials, n_test)``,
    ``validation (trials, n_val)``; raises ConfigError if sizes differ."""
    out = {}
    for part in ("train", "test", "validation"):
        sizes = {len(getattr(s, part)) for s in splits}
        if len(sizes) != 1:
            raise ConfigError(f"trial splits have different {part} sizes {sorted(sizes)}")
        out[part] = np.stack([getattr(s, part) for s in splits]).astype(np.int32)
    return out


def make_splits(
    labels, seeds, *, n_classes, test_fraction, validation_fraction=None, groups=None, curve=None
) -> dict[str, np.ndarray]:
    """:func:`trial_split` for each seed (with ``groups``, if given, group ids ``(songs,)``: artist-grouped
    splits; with ``curve = (train_per_class, largest_per_class)``: :func:`curve_split`), stacked with
    :func:`stack_splits` plus ``class_weights`` ``(trials, n_classes)``."""
    if curve is not None:
        splits = [curve_split(labels, int(s), n_classes=n_classes, train_per_class=curve[0],
                              largest_per_class=curve[1], validation_fraction=validation_fraction) for s in seeds]
    else:
        splits = [
            trial_split(
                labels, int(s), n_classes=n_classes, test_fraction=test_fraction,
                validation_fraction=validation_fraction, groups=groups,
            )
            for s in seeds
        ]
    stacked = stack_splits(splits)
    stacked["class_weights"] = np.stack([class_weights(np.asarray(labels)[s.train], n_classes) for s in splits])
    return stacked


def rows_of(splits: dict[str, np.ndarray], song_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Song-level splits as row indices: every segment of a song goes where the song goes.

    Args:
      splits: from :func:`make_splits` over songs: ``train``, ``test``, ``validation`` ``(trials, n)`` and
        ``class_weights``.
      song_rows: each song's rows, int ``(songs, segments)``
        (:attr:`jaxsep.features.file.FeatureSet.song_rows`).

    Returns:
      the same keys, each index array ``(trials, n · segments)`` in song-major order (a song's segments
      consecutive); the class weights unchanged (every song has the same number of segments).
    """
    rows = {part: song_rows[splits[part]].reshape(len(splits[part]), -1).astype(np.int32)
            for part in ("train", "test", "validation")}
    return rows | {"class_weights": splits["class_weights"]}

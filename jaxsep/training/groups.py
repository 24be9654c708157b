"""Artist groups for group-aware splits, in numpy: songs that share an artist stay on one side of a split.

    parse_artists        ``"A; B"`` → ``("A", "B")`` (the manifest column / feature file spelling)
    artist_groups        group id per song: connected songs through ANY shared artist (union-find)
    achievable_size      the number of songs whole groups can make closest to a wanted size
    group_holdout        a random union of whole groups of an exact size, stratified by class where it can be

A song credited to several artists belongs to all of them (GiantSteps+ ``artists``), so a group is a connected
component, not "songs of the first artist": ``A;B`` and ``B;C`` put all three artists' songs in one group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..audio.songs import ARTIST_SEPARATOR, parse_artists
from ..errors import ConfigError

__all__ = ["ARTIST_SEPARATOR", "achievable_size", "artist_groups", "group_holdout", "parse_artists"]


def _find(parent: list[int], song: int) -> int:
    """Root of ``song``'s set, halving the path on the way (union-find)."""
    while parent[song] != song:
        parent[song] = parent[parent[song]]
        song = parent[song]
    return song


def artist_groups(artists: Sequence[Sequence[str]]) -> np.ndarray:
    """Group id of each song: songs are in one group when a chain of shared artists links them.

    Names are compared after ``strip`` and ``casefold`` (``"ABBA "`` is ``"abba"``); a song with no artist
    is a group of its own.

    Args:
      artists: each song's artist names, length ``songs`` (e.g. :func:`parse_artists` of each song).

    Returns:
      int group ids, shape ``(songs,)``, numbered ``0, 1, ...`` in order of each group's first song.
    """
    parent = list(range(len(artists)))
    first_song: dict[str, int] = {}  # artist key -> a song credited to it
    for song, names in enumerate(artists):
        for name in names:
            key = name.strip().casefold()
            if not key:
                continue
            other = first_song.setdefault(key, song)
            root, other_root = _find(parent, song), _find(parent, other)
            if root != other_root:
                parent[max(root, other_root)] = min(root, other_root)
    ids: dict[int, int] = {}
    return np.array([ids.setdefault(_find(parent, song), len(ids)) for song in range(len(artists))], dtype=int)


def _subset_sums(sizes: np.ndarray, limit: int) -> np.ndarray:
    """Boolean ``(limit + 1,)``: which totals ``0..limit`` some subset of ``sizes`` adds up to."""
    reach = np.zeros(limit + 1, dtype=bool)
    reach[0] = True
    for size in sizes:
        if 0 < size <= limit:
            reach[size:] |= reach[: limit + 1 - size].copy()
    return reach


def achievable_size(group_sizes, target: int, *, largest: int | None = None) -> int:
    """The number of songs closest to ``target`` that a union of whole groups holds.

    Args:
      group_sizes: songs per group, int shape ``(groups,)``.
      target: the wanted number of songs (e.g. ``round(0.2 · songs)``).
      largest: the largest size allowed; default ``total − 1`` (something must stay on the other side).

    Returns:
      a subset sum of ``group_sizes`` in ``1..largest`` nearest ``target``; of two equally near, the smaller.

    Raises:
      ConfigError: when no union of groups has a size in ``1..largest`` (e.g. all songs in one group).
    """
    sizes = np.asarray(group_sizes, dtype=int)
    if np.any(sizes < 0):
        raise ConfigError(f"group sizes must be >= 0, got {sizes[sizes < 0].tolist()}")
    total = int(sizes.sum())
    largest = total - 1 if largest is None else min(int(largest), total - 1)
    if largest < 1:
        raise ConfigError(f"{len(sizes)} group(s) of {total} song(s) in all: no split of whole groups is possible")
    sums = np.nonzero(_subset_sums(sizes, largest))[0]
    sums = sums[sums >= 1]
    if len(sums) == 0:
        raise ConfigError(
            f"no union of whole groups holds between 1 and {largest} songs (group sizes {sorted(sizes.tolist())})"
        )
    return int(sums[np.argmin(np.abs(sums - int(target)))])  # argmin takes the first: the smaller on a tie


def _class_quotas(counts: np.ndarray, size: int) -> np.ndarray:
    """Whole songs per class summing to ``size``, in proportion to ``counts`` by largest remainder (ties to
    the lower class index); a class keeps at least one song on the other side while others have room."""
    share = size * counts / counts.sum()
    quotas = np.floor(share).astype(int)
    room = np.maximum(counts - 1, 0)
    quotas = np.minimum(quotas, room)
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    for limit in (room, counts):  # a class gives up its last song only if no other class can
        while quotas.sum() < size and np.any(quotas < limit):
            for label in order:
                if quotas.sum() < size and quotas[label] < limit[label]:
                    quotas[label] += 1
    return quotas


def _suffix_reach(sizes: np.ndarray, size: int) -> np.ndarray:
    """Boolean ``(groups + 1, size + 1)``: row ``i`` says which totals the groups ``i:`` can still add."""
    reach = np.zeros((len(sizes) + 1, size + 1), dtype=bool)
    reach[-1, 0] = True
    for i in range(len(sizes) - 1, -1, -1):
        reach[i] = reach[i + 1]
        if sizes[i] <= size:
            reach[i, sizes[i]:] |= reach[i + 1, : size + 1 - sizes[i]]
    return reach


def _take_is_better(held: np.ndarray, group: np.ndarray, quotas: np.ndarray, counts: np.ndarray) -> bool:
    """Whether adding a group's class counts to ``held`` beats leaving it out: first, never take a class's
    last song away from the other side; then the smaller squared distance to the quotas. A tie leaves the
    group: overshooting one class as far as another stays short helps no class."""
    taken = held + group
    if np.any((taken >= counts) & (counts > 0) & (group > 0)):
        return False
    return np.sum((quotas - taken) ** 2) < np.sum((quotas - held) ** 2)


def group_holdout(
    labels: np.ndarray, groups: np.ndarray, size: int, rng: np.random.Generator, n_classes: int
) -> np.ndarray:
    """Positions held out: a random union of whole groups of exactly ``size`` songs, stratified by class as
    far as the groups allow.

    The groups are walked in a random order; each is taken or left, whichever brings the held-out songs per
    class nearer their quotas (``size · n_c / n``, apportioned to whole songs by largest remainder) without
    taking a class's last song, among the choices after which the groups still to come can make up exactly
    ``size`` (a boolean subset-sum table over the order's suffixes, ``(groups + 1, size + 1)``). The result
    depends only on ``labels``, ``groups``, ``size`` and the state of ``rng`` (one ``permutation`` call).

    Args:
      labels: int class of each song, shape ``(songs,)``.
      groups: group id of each song, shape ``(songs,)`` (any ints, e.g. :func:`artist_groups`).
      size: songs to hold out; some union of whole groups must hold exactly this many
        (:func:`achievable_size`).
      rng: the trial's generator.
      n_classes: number of classes.

    Returns:
      sorted int positions into ``labels``, shape ``(size,)``.

    Raises:
      ConfigError: when ``labels`` and ``groups`` differ in length, or no union of whole groups holds exactly
        ``size`` songs.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    if labels.shape != groups.shape:
        raise ConfigError(f"{len(groups)} group ids for {len(labels)} songs: need one per song")
    ids, group_of = np.unique(groups, return_inverse=True)
    group_of = group_of.reshape(-1)
    sizes = np.bincount(group_of, minlength=len(ids))
    if not 0 <= size <= len(labels):
        raise ConfigError(f"cannot hold out {size} of {len(labels)} songs")
    class_counts = np.zeros((len(ids), n_classes), dtype=int)
    np.add.at(class_counts, (group_of, labels), 1)
    counts = class_counts.sum(axis=0)
    quotas = _class_quotas(counts, size) if size else np.zeros(n_classes, dtype=int)

    order = rng.permutation(len(ids))
    reach = _suffix_reach(sizes[order], size)
    if not reach[0, size]:
        raise ConfigError(
            f"no union of whole groups holds exactly {size} songs (group sizes {sorted(sizes.tolist())})"
        )
    held, total, chosen = np.zeros(n_classes, dtype=int), 0, np.zeros(len(ids), dtype=bool)
    for i, group in enumerate(order):
        can_take = total + sizes[group] <= size and reach[i + 1, size - total - sizes[group]]
        can_leave = reach[i + 1, size - total]
        if can_take and (not can_leave or _take_is_better(held, class_counts[group], quotas, counts)):
            chosen[group] = True
            held += class_counts[group]
            total += sizes[group]
    return np.nonzero(chosen[group_of])[0]

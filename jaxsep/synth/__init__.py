"""Synthetic EDM songs with true stems: six subgenres, rendered by vectorised numpy synthesis.

Public surface: :func:`generate_dataset` (write a labelled set with stems and a manifest),
:func:`render_song` (one song as ``{stem: wave}``), the genre table :data:`GENRES` and
:func:`compose` / :func:`render_plan` for callers that want the score before the audio.
"""

from .dataset import generate_dataset
from .genres import GENRE_NAMES, GENRES, Genre, get_genre
from .plan import SongPlan, compose
from .render import DEFAULT_DIFFICULTY, render_plan, render_song

__all__ = ["DEFAULT_DIFFICULTY", "GENRES", "GENRE_NAMES", "Genre", "SongPlan", "compose",
           "generate_dataset", "get_genre", "render_plan", "render_song"]

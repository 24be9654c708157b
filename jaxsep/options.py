"""Every closed set of options, one table each: a choice among a few values is a ``StrEnum``.

A member is its value (``Precision.BF16 == "bf16"``, ``str(Precision.BF16) == "bf16"``), so configurations,
``results.json`` and the CLI read and write plain strings; :func:`choose` turns a user's string into a member with
one clear error. Lists shown to users (CLI help, error messages) derive from these tables.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from .errors import ConfigError


class Precision(StrEnum):
    """Arithmetic of convolutions, matmuls and activations (:mod:`jaxsep.nn.numerics`).

    ``TF32`` float32 values with XLA's default precision (TensorFloat-32 convolutions on recent GPUs, JAX's
    default; exactly float32 on a CPU); ``F32`` full float32 everywhere; ``BF16`` bfloat16 activations and
    convolutions with float32 parameters, batch-norm statistics, logits and loss.
    """

    TF32 = "tf32"
    F32 = "f32"
    BF16 = "bf16"


class SelectOn(StrEnum):
    """Where a trial's reported epoch is chosen: minimum ``TEST`` loss (the paper's protocol) or minimum loss on
    a ``VALIDATION`` part carved from the trial's training songs."""

    TEST = "test"
    VALIDATION = "validation"


class LoweringName(StrEnum):
    """How the trial engine lowers the trial axis (:data:`jaxsep.training.engine.LOWERINGS` describes each)."""

    STEPPED = "stepped"
    SEQUENTIAL = "sequential"
    VMAP = "vmap"
    MAP = "map"


#: ``--strategy``: ``"auto"`` (chosen by measurement for the device) or one of the :class:`LoweringName` s.
Strategy = StrEnum("Strategy", [("AUTO", "auto"), *((member.name, member.value) for member in LoweringName)])
Strategy.__doc__ = "``auto`` or a :class:`LoweringName`: how the engine runs a model's trials (same numbers)."
Strategy.__module__ = __name__


class Head(StrEnum):
    """What a network does after its conv blocks.

    ``DENSE``: the paper's: flatten every pooled value (116,736 at 128 × 458 with 32 filters) → dropout → dense.
    ``POOL``: mean and max over time of every frequency band and channel (2,048 values) → dropout → dense, as music
    CNNs for small data pool over time before a small classifier (Choi et al. 2016; Pons et al. 2018).
    ``RHYTHM``: ``POOL``'s values and, per channel and frequency region (8 runs of bands), the autocorrelation of
    its activation over time at lags up to ~2 s: the tempo and groove a 3 × 3 conv body cannot see in a ~0.2 s
    receptive field.
    """

    DENSE = "dense"
    POOL = "pool"
    RHYTHM = "rhythm"


class GroupBy(StrEnum):
    """What keeps songs together on one side of every split (:mod:`jaxsep.training.groups`)."""

    ARTIST = "artist"


class Batching(StrEnum):
    """How a chunk program runs its trials: all at once (``VMAP``) or one after another (``MAP``)."""

    VMAP = "vmap"
    MAP = "map"


class GenreLabel(StrEnum):
    """Which Beatport label a GiantSteps+ song gets: its genre, or its first sub-genre (falling back to the
    genre)."""

    GENRE = "genre"
    SUB_GENRE = "sub-genre"


class FeatureDtype(StrEnum):
    """Storage type of the maps in a feature file (``FLOAT16`` halves the file; 0.03 dB steps)."""

    FLOAT16 = "float16"
    FLOAT32 = "float32"


Choice = TypeVar("Choice", bound=StrEnum)


def choose(kind: type[Choice], value, what: str, *, message: str = "{what} must be one of {choices}, got {value!r}"
           ) -> Choice:
    """``value`` as a member of ``kind``.

    Args:
      kind: the table.
      value: a member or its string.
      what: the option's name, for the error.
      message: the error's wording, formatted with ``what``, ``choices`` and ``value``.

    Raises:
      ConfigError: by default ``"<what> must be one of [...], got '<value>'"``.
    """
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(message.format(what=what, choices=names(kind), value=value)) from None


def names(kind: type[StrEnum]) -> list[str]:
    """The values of ``kind``, in table order (what help texts and errors list)."""
    return [member.value for member in kind]

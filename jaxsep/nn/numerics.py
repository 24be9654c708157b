"""How a layer computes at a ``--precision`` of :data:`jaxsep.config.PRECISIONS`: the dtype of its activations
and operands and the ``lax.Precision`` of its convolutions and matmuls. Parameters are float32 whatever the
precision; under ``bf16`` the activations between layers are bfloat16 and batch-norm statistics are summed in
float32."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import lax


class Numerics(NamedTuple):
    """How a layer computes: ``dtype`` of its activations and convolution / matmul operands, and the
    ``precision`` passed to ``lax.conv_general_dilated`` and ``jnp.einsum`` (None: XLA's default)."""

    dtype: jnp.dtype
    precision: lax.Precision | None


def numerics(precision: str) -> Numerics:
    """The :class:`Numerics` of a ``--precision`` name: ``tf32`` float32 at XLA's default precision
    (TensorFloat-32 convolutions on GPUs that have it), ``f32`` float32 at ``Precision.HIGHEST``, ``bf16``
    bfloat16 operands at the default precision."""
    if precision == "bf16":
        return Numerics(jnp.bfloat16, None)
    if precision == "f32":
        return Numerics(jnp.float32, lax.Precision.HIGHEST)
    if precision == "tf32":
        return Numerics(jnp.float32, None)
    raise ValueError(f"unknown precision {precision!r}")

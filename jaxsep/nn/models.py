"""The paper's four networks as pure-function Flax modules.

Each is two conv blocks (conv → batch norm → ReLU → 2×2 max pool), dropout, and a dense layer to the
classes. They differ in input maps and in the convolution:

============  =========================  ======================
name          input maps                 convolution
============  =========================  ======================
full          mix                        standard 2D
novox         novox (paper's baseline)   standard 2D
stems3        bass, drums, other         standard 2D
stems3_dw     bass, drums, other         depthwise-separable 2D
============  =========================  ======================

Models see one batch ``(batch, mel, time, channel)``; they never see a trial axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ..config import TrainConfig
from ..errors import ConfigError
from .conv import Conv, SeparableConv
from .dropout import Dropout
from .norm_pool import BatchNormReluPool
from .numerics import numerics


@dataclass(frozen=True)
class ModelSpec:
    """A named model: which feature maps it reads and whether its convs are depthwise-separable."""

    name: str
    maps: tuple[str, ...]
    separable: bool
    description: str


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("full", ("mix",), False, "1 spec, 2DConv-Full"),
        ModelSpec("novox", ("novox",), False, "1 spec, 2DConv-No-Vox (baseline)"),
        ModelSpec("stems3", ("bass", "drums", "other"), False, "3 spec, 2DConv"),
        ModelSpec("stems3_dw", ("bass", "drums", "other"), True, "3 spec, DW-2DConv"),
    )
}


def get_spec(name: str) -> ModelSpec:
    """Returns the :class:`ModelSpec` named ``name``; raises ConfigError listing the choices."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose from {sorted(MODELS)}") from None


def required_maps(models) -> tuple[str, ...]:
    """Every map the named models read, in first-use order."""
    maps: list[str] = []
    for name in models:
        maps += [m for m in get_spec(name).maps if m not in maps]
    return tuple(maps)


class ConvBlock(nn.Module):
    """conv → batch norm (masked statistics) → ReLU → 2×2 max pool."""

    features: int
    kernel_size: int
    separable: bool
    bn_momentum: float
    bn_epsilon: float
    shifted_weight_grad: bool = False
    precision: str = "tf32"
    direct_forward: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, mask: jax.Array | None = None) -> jax.Array:
        """``x``: ``(batch, h, w, c)`` → ``(batch, h // 2, w // 2, features)``; ``mask``: ``(batch,)``."""
        window = (self.kernel_size, self.kernel_size)
        norm = BatchNormReluPool(self.features, self.bn_momentum, self.bn_epsilon, name="bn")
        # The conv computes its maps times the batch norm's per-channel sign (folded into its kernel), which the
        # pool takes as they are: same numbers, one full-size pass fewer.
        sign = norm.output_sign()
        # No conv bias: batch norm's offset replaces it. A bias before batch norm gets a zero gradient in
        # training, and Adam turns that float noise into +-lr steps which then move the test-time output.
        if self.separable:
            conv = SeparableConv(self.features, window, use_bias=False, precision=self.precision, name="conv")
        else:
            conv = Conv(self.features, window, shifted_weight_grad=self.shifted_weight_grad,
                        direct_forward=self.direct_forward, precision=self.precision, name="conv")
        # Padded rows of a short last batch must not move the batch statistics.
        return norm(conv(x, output_sign=sign), train=train, mask=mask, signed_input=True)


class GenreCNN(nn.Module):
    """Two :class:`ConvBlock` s, flatten, dropout, dense to ``n_classes`` logits."""

    n_classes: int
    filters: tuple[int, int] = (16, 32)
    kernel_size: int = 3
    separable: bool = False
    dropout: float = 0.5
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-3
    #: A lowering choice, same numbers: the weight gradient of the standard convs as shifted contractions
    #: (:func:`jaxsep.nn.conv.conv2d_shifted_weight_grad`), which batch well under ``vmap`` over trials.
    shifted_weight_grad: bool = False
    #: One of :data:`jaxsep.config.PRECISIONS` (:func:`jaxsep.nn.numerics.numerics`); parameters are float32 always.
    precision: str = "tf32"
    #: A lowering choice, same numbers to float rounding: the first conv's forward pass as shifted
    #: sums (:func:`jaxsep.nn.conv.conv2d_direct`).
    direct_forward: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, mask: jax.Array | None = None,
                 dropout_rate: float | jax.Array | None = None) -> jax.Array:
        """Logits for a batch.

        Args:
          x: log-mel maps, shape ``(batch, mel, time, channel)``.
          train: batch statistics and dropout when True; running statistics and no dropout when False.
          mask: ``(batch,)`` 1 for real rows, 0 for padding (batch-norm statistics ignore padding).
          dropout_rate: overrides ``dropout`` for this call (may be traced: a per-trial hyperparameter).

        Returns:
          logits, shape ``(batch, n_classes)``, float32 at every precision.
        """
        for index, features in enumerate(self.filters):
            x = ConvBlock(
                features, self.kernel_size, self.separable, self.bn_momentum, self.bn_epsilon,
                self.shifted_weight_grad, self.precision, self.direct_forward, name=f"block{index + 1}"
            )(x, train=train, mask=mask)
        x = x.reshape(x.shape[0], -1)
        x = Dropout(self.dropout)(x, deterministic=not train, rate=dropout_rate)
        dtype, precision = numerics(self.precision)
        # dtype None for float32: flax infers it from the inputs, as before precisions existed.
        dense = nn.Dense(self.n_classes, dtype=None if dtype == jnp.float32 else dtype, precision=precision,
                         name="dense")
        return dense(x).astype(jnp.float32)


def create_model(name: str, n_classes: int, config: TrainConfig = TrainConfig()) -> GenreCNN:
    """Builds the named model for ``n_classes`` classes with ``config`` 's filters, kernel and dropout."""
    return build_network(get_spec(name).separable, n_classes, config)


def build_network(separable: bool, n_classes: int, config: TrainConfig = TrainConfig(), *,
                  shifted_weight_grad: bool = False, direct_forward: bool = False) -> GenreCNN:
    """The network of every model with this kind of convolution (the maps only change its input);
    ``shifted_weight_grad`` and ``direct_forward`` pick how the standard convs are computed (same numbers)."""
    return GenreCNN(
        n_classes=n_classes,
        filters=tuple(config.filters),
        kernel_size=config.kernel_size,
        separable=separable,
        dropout=config.dropout,
        bn_momentum=config.bn_momentum,
        bn_epsilon=config.bn_epsilon,
        shifted_weight_grad=shifted_weight_grad,
        direct_forward=direct_forward,
        precision=config.precision,
    )


def init_variables(model: GenreCNN, key: jax.Array, input_shape: tuple[int, int, int]) -> dict:
    """Initial ``{"params", "batch_stats"}`` for inputs of shape ``(mel, time, channel)``."""
    return model.init({"params": key}, jnp.zeros((1, *input_shape), jnp.float32), train=False)


def kernel_penalty(params, l1: float, l2: float) -> jax.Array:
    """``l1 · Σ|w| + l2 · Σw²`` over every kernel (conv, depthwise, pointwise, dense); biases and
    batch-norm scales are not penalised (as Keras' ``kernel_regularizer``)."""
    leaves = [
        leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(params)
        if str(getattr(path[-1], "key", "")).endswith("kernel")
    ]
    total = jnp.zeros((), jnp.float32)
    for leaf in leaves:
        total = total + l1 * jnp.sum(jnp.abs(leaf)) + l2 * jnp.sum(jnp.square(leaf))
    return total


def parameter_table(name: str, n_classes: int, input_shape: tuple[int, int], config: TrainConfig = TrainConfig()):
    """Parameter counts of a model, split by layer and kind.

    Args:
      name: model name.
      n_classes: classes of the dense layer.
      input_shape: ``(mel, time)``; the channel count comes from the model's maps.

    Returns:
      list of ``(layer, parameter, shape, count)`` rows, trainable parameters only (batch-norm running
      statistics excluded).
    """
    spec = get_spec(name)
    model = create_model(name, n_classes, config)
    shapes = jax.eval_shape(
        lambda: init_variables(model, jax.random.key(0), (*input_shape, len(spec.maps)))
    )["params"]
    rows = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(shapes):
        keys = [str(p.key) for p in path]
        rows.append(("/".join(keys[:-1]), keys[-1], tuple(leaf.shape), int(np.prod(leaf.shape))))
    return rows

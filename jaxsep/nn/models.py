"""The paper's four networks as pure-function Flax modules, and any network named by its input maps.

Each is two conv blocks (conv → batch norm → ReLU → 2×2 max pool), dropout, and a dense layer to the
classes. The paper's four differ in input maps and in the convolution:

============  =========================  ======================
name          input maps                 convolution
============  =========================  ======================
full          mix                        standard 2D
novox         novox (paper's baseline)   standard 2D
stems3        bass, drums, other         standard 2D
stems3_dw     bass, drums, other         depthwise-separable 2D
============  =========================  ======================

Any other model is named by its maps and modifiers (:func:`get_spec`): ``drums``, ``bass+drums``,
``mix+bass+drums+other``; ``:dw`` makes its convolutions depthwise-separable, ``:pool`` gives it the
time-pooling head and ``:rhythm`` the time-pooling and rhythm head (:class:`~jaxsep.options.Head`); the paper's
names take modifiers too (``stems3:pool``).

Models see one batch ``(batch, mel, time, channel)``; they never see a trial axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ..config import TrainConfig
from ..constants import MAP_JOIN, MAPS
from ..errors import ConfigError
from ..options import Head, names
from .conv import Conv, SeparableConv
from .dropout import Dropout
from .norm_pool import BatchNormReluPool
from .numerics import numerics


@dataclass(frozen=True)
class ModelSpec:
    """A named model: which feature maps it reads (its input channels, in order), whether its convs are
    depthwise-separable, and its head."""

    name: str
    maps: tuple[str, ...]
    separable: bool
    description: str
    head: Head = Head.DENSE

    @property
    def network(self) -> tuple[tuple[str, ...], bool, Head]:
        """What makes two names the same model: the maps, the convolution and the head."""
        return self.maps, self.separable, self.head


#: The paper's four models by their names in its Table 1.
MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("full", ("mix",), False, "1 spec, 2DConv-Full"),
        ModelSpec("novox", ("novox",), False, "1 spec, 2DConv-No-Vox (baseline)"),
        ModelSpec("stems3", ("bass", "drums", "other"), False, "3 spec, 2DConv"),
        ModelSpec("stems3_dw", ("bass", "drums", "other"), True, "3 spec, DW-2DConv"),
    )
}
#: The modifier that makes a named model's convolutions depthwise-separable (``bass+drums:dw``).
SEPARABLE = "dw"


def _spec_error(name: str, problem: str) -> ConfigError:
    return ConfigError(f"unknown model {name!r}{problem}; choose from {sorted(MODELS)} or maps joined by "
                       f"{MAP_JOIN!r} (from {list(MAPS)}), optionally followed by ':{SEPARABLE}' "
                       f"(depthwise-separable convs) and a head, ':{Head.POOL}' or ':{Head.RHYTHM}'")


def parse_maps(text: str, name: str | None = None) -> tuple[str, ...]:
    """``"bass+drums"`` → ``("bass", "drums")``; ConfigError naming ``name`` (default ``text``) for a name that is
    not a map of :data:`jaxsep.constants.MAPS`, or a map named twice."""
    maps = tuple(part.strip() for part in text.split(MAP_JOIN))
    unknown = [m for m in maps if m not in MAPS]
    if unknown or not maps:
        raise _spec_error(name or text, f": {unknown or [text]} not a map" if MAP_JOIN in text else "")
    if len(set(maps)) != len(maps):
        raise ConfigError(f"model {name or text!r} names a map twice")
    return maps


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` a model name describes: one of the paper's four (:data:`MODELS`), or maps joined
    by ``+``; either may be followed by ``:dw`` and a head, ``:pool``, ``:rhythm`` or ``:dense``.

    Raises:
      ConfigError: a name that describes no model, listing what names look like.
    """
    base, *modifiers = name.strip().split(":")
    alias = MODELS.get(base)
    maps = alias.maps if alias else parse_maps(base, name)
    separable, head = (alias.separable, alias.head) if alias else (False, Head.DENSE)
    for modifier in modifiers:
        if modifier == SEPARABLE:
            separable = True
        elif modifier in names(Head):
            head = Head(modifier)
        else:
            raise _spec_error(name, f": modifier {modifier!r}")
    if alias and (separable, head) == (alias.separable, alias.head):
        return alias if name == alias.name else ModelSpec(name, maps, separable, alias.description, head)
    heads = {Head.POOL: ", time-pooling head", Head.RHYTHM: ", time-pooling and rhythm head"}
    description = (f"{len(maps)} spec ({MAP_JOIN.join(maps)}), {'DW-2DConv' if separable else '2DConv'}"
                   + heads.get(head, ""))
    return ModelSpec(name, maps, separable, description, head)


def check_distinct(models) -> None:
    """Raises ConfigError when two names of ``models`` describe the same network on the same maps (they would
    train to the same numbers)."""
    seen: dict[tuple, str] = {}
    for name in models:
        network = get_spec(name).network
        if network in seen:
            raise ConfigError(f"models {seen[network]!r} and {name!r} are the same network on the same maps")
        seen[network] = name


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
    #: What follows the conv blocks (:class:`~jaxsep.options.Head`).
    head: Head = Head.DENSE

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
        x = head_input(x, self.head)
        x = Dropout(self.dropout)(x, deterministic=not train, rate=dropout_rate)
        dtype, precision = numerics(self.precision)
        # dtype None for float32: flax infers it from the inputs, as before precisions existed.
        dense = nn.Dense(self.n_classes, dtype=None if dtype == jnp.float32 else dtype, precision=precision,
                         name="dense")
        return dense(x).astype(jnp.float32)


#: Lags of the rhythm head's autocorrelation, in frames of the conv body's output (4 input hops: 92.9 ms at the
#: paper's framing): up to ~2.2 s, beat periods down to ~27 BPM.
RHYTHM_LAGS = 24
#: Frequency regions of the rhythm head: each channel's activation is summed over the bands of each region (8
#: regions of 4 pooled bands, 16 mel bands each at the paper's 128), so a kick's and a hi-hat's periodicities
#: stay apart. Chosen on seed-0 synthetic songs (benchmarks/RESULTS.md, "A head that learns from few songs").
RHYTHM_REGIONS = 8


def time_pool(x: jax.Array) -> jax.Array:
    """The time-pooling head's input: ``x (batch, bands, frames, channels)`` → the mean and the max over frames of
    every band and channel, flattened to ``(batch, bands · channels · 2)``; the statistics in float32."""
    x = x.astype(jnp.float32)
    return jnp.stack([x.mean(axis=2), x.max(axis=2)], axis=-1).reshape(x.shape[0], -1)


def rhythm_pool(x: jax.Array, lags: int = RHYTHM_LAGS, regions: int = RHYTHM_REGIONS) -> jax.Array:
    """The rhythm head's extra input: for each channel of ``x (batch, bands, frames, channels)`` and each of
    ``regions`` equal runs of bands (fewer when there are fewer bands; spare bands at the top left out), the
    activation summed over the region's bands, centred, and its autocorrelation at lags
    ``1..min(lags, frames - 1)`` divided by the lag-0 value: ``(batch, regions · channels · lags)`` float32 (a flat
    profile gives zeros)."""
    batch, bands, frames, channels = x.shape
    regions = min(regions, bands)
    per_region = bands // regions
    grouped = x[:, :regions * per_region].astype(jnp.float32).reshape(batch, regions, per_region, frames, channels)
    profile = jnp.moveaxis(grouped.sum(axis=2), 1, -1).reshape(batch, frames, channels * regions)
    profile = profile - profile.mean(axis=1, keepdims=True)
    lags = min(lags, frames - 1)
    if lags < 1:  # a single frame has no rhythm
        return jnp.zeros((batch, 0), jnp.float32)
    energy = jnp.sum(profile * profile, axis=1)  # (batch, profiles)
    products = [jnp.sum(profile[:, lag:] * profile[:, :frames - lag], axis=1) for lag in range(1, lags + 1)]
    correlation = jnp.stack(products, axis=-1) / jnp.maximum(energy, 1e-6)[..., None]  # (batch, profiles, lags)
    return correlation.reshape(batch, -1)


def head_input(x: jax.Array, head: Head) -> jax.Array:
    """What the dense layer reads after the conv blocks ``x (batch, bands, frames, channels)``: every value
    (the paper's), :func:`time_pool`, or :func:`time_pool` and :func:`rhythm_pool` side by side."""
    if head == Head.POOL:
        return time_pool(x)
    if head == Head.RHYTHM:
        return jnp.concatenate([time_pool(x), rhythm_pool(x)], axis=1)
    return x.reshape(x.shape[0], -1)


def create_model(name: str, n_classes: int, config: TrainConfig = TrainConfig()) -> GenreCNN:
    """Builds the named model for ``n_classes`` classes with ``config`` 's filters, kernel and dropout."""
    spec = get_spec(name)
    return build_network(spec.separable, n_classes, config, head=spec.head)


def build_network(separable: bool, n_classes: int, config: TrainConfig = TrainConfig(), *,
                  shifted_weight_grad: bool = False, direct_forward: bool = False,
                  head: Head = Head.DENSE) -> GenreCNN:
    """The network of every model with this kind of convolution and head (the maps only change its input);
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
        head=Head(head),
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

"""The networks: the paper's four Flax models, any model named by its maps, and the hand-written layers.

    models.MODELS, get_spec       the paper's four by name; ``drums``, ``bass+drums:dw``, ``stems3:rhythm``...
    models.GenreCNN               conv blocks → a head → dropout → dense, for one batch
                                  ``(batch, mel, time, channel)``
    models.time_pool, rhythm_pool the pooled heads' inputs: mean + max over time; autocorrelation over time
    models.create_model, parameter_table, required_maps, kernel_penalty
    conv.SeparableConv            the depthwise-separable convolution of DW-2DConv
    conv.Conv                     flax's Conv with a shifted-contraction weight gradient or a direct forward
    norm_pool.BatchNormReluPool   batch norm → ReLU → 2×2 max pool, computed on the pooled maps
    dropout.Dropout, keep_mask    dropout from 16 random bits per element
    numerics.numerics             a --precision's activation dtype and conv / matmul precision
"""

from .models import (
    MODELS,
    GenreCNN,
    ModelSpec,
    create_model,
    get_spec,
    parameter_table,
    required_maps,
)

__all__ = ["MODELS", "GenreCNN", "ModelSpec", "create_model", "get_spec", "parameter_table", "required_maps"]

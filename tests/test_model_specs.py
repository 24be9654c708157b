"""Models named by their maps: the spec grammar, the time-pooling head against numpy, pinned parameter counts."""

import re

import jax
import numpy as np
import pytest

from jaxsep.errors import ConfigError
from jaxsep.nn.models import MODELS, check_distinct, get_spec, parameter_table, rhythm_pool, time_pool
from jaxsep.options import Head


def _count(name: str, channels_shape=(128, 458)) -> int:
    return sum(row[3] for row in parameter_table(name, 6, channels_shape))


def test_the_papers_names_stay_what_they_were():
    for name, spec in MODELS.items():
        assert get_spec(name) is spec and spec.head == Head.DENSE
    assert get_spec("stems3").maps == ("bass", "drums", "other") and get_spec("stems3_dw").separable


@pytest.mark.parametrize("name, maps, separable, head", [
    ("drums", ("drums",), False, Head.DENSE),
    ("drums+bass", ("drums", "bass"), False, Head.DENSE),  # the channels in the order written
    ("mix+bass+drums+other", ("mix", "bass", "drums", "other"), False, Head.DENSE),
    ("bass+drums:dw", ("bass", "drums"), True, Head.DENSE),
    ("novox:pool", ("novox",), False, Head.POOL),
    ("stems3:pool", ("bass", "drums", "other"), False, Head.POOL),
    ("stems3_dw:pool", ("bass", "drums", "other"), True, Head.POOL),
    ("bass+other:pool:dw", ("bass", "other"), True, Head.POOL),
    ("novox:rhythm", ("novox",), False, Head.RHYTHM),
])
def test_names_built_from_maps(name, maps, separable, head):
    spec = get_spec(name)
    assert (spec.name, spec.maps, spec.separable, spec.head) == (name, maps, separable, head)


@pytest.mark.parametrize("name, message", [
    ("resnet", "unknown model 'resnet'"),
    ("bas+drums", "['bas'] not a map"),
    ("novox:wide", "modifier 'wide'"),
    ("bass+bass", "names a map twice"),
])
def test_names_that_describe_no_model(name, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        get_spec(name)


def test_two_names_of_one_network_are_refused():
    with pytest.raises(ConfigError, match=re.escape("'stems3' and 'bass+drums+other' are the same network")):
        check_distinct(["novox", "stems3", "bass+drums+other"])
    check_distinct(["stems3", "stems3:pool", "stems3_dw", "drums+bass+other"])  # all different networks


def test_parameter_counts_by_hand():
    # conv1 3·3·C·16 (no bias) + bn1 2·16 + conv2 3·3·16·32 + bn2 2·32 = 144·C + 4,704; then the head.
    body = {1: 144 + 4_704, 3: 432 + 4_704}
    assert _count("novox:pool") == body[1] + (32 * 32 * 2) * 6 + 6 == 17_142  # mean + max over time
    assert _count("stems3:pool") == body[3] + 2_048 * 6 + 6 == 17_430
    # rhythm: 8 regions × 32 channels × 24 lags of autocorrelation beside the 2,048 pooled values
    assert _count("novox:rhythm") == body[1] + (2_048 + 8 * 32 * 24) * 6 + 6 == 54_006
    assert _count("drums") == _count("novox") == 705_270  # one map: the paper's novox network
    assert _count("bass+drums") == 288 + 4_704 + 116_736 * 6 + 6 == 705_414


def test_time_pool_is_the_mean_and_max_over_frames():
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype(np.float32)  # (batch, bands, frames, channels)
    got = np.asarray(jax.jit(time_pool)(x))
    expected = np.stack([x.mean(axis=2), x.max(axis=2)], axis=-1).reshape(2, -1)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got.shape == (2, 3 * 4 * 2)


def test_rhythm_pool_is_each_regions_normalized_autocorrelation():
    x = np.random.default_rng(1).normal(size=(2, 9, 12, 3)).astype(np.float32)  # 9 bands: 4 regions of 2, 1 spare
    got = np.asarray(jax.jit(lambda v: rhythm_pool(v, lags=5, regions=4))(x))
    expected = np.zeros((2, 3, 4, 5))  # (batch, channel, region, lag)
    for b in range(2):
        for c in range(3):
            for r in range(4):
                profile = x[b, 2 * r:2 * r + 2, :, c].sum(axis=0).astype(np.float64)
                profile -= profile.mean()
                for lag in range(1, 6):
                    expected[b, c, r, lag - 1] = np.dot(profile[lag:], profile[:-lag]) / np.dot(profile, profile)
    np.testing.assert_allclose(got, expected.reshape(2, -1), rtol=1e-4, atol=1e-5)
    periodic = np.tile(np.array([1.0, 0, 0, 0], np.float32), 6)[None, None, :, None]  # a beat every 4 frames
    beat = np.asarray(rhythm_pool(periodic, lags=8, regions=1))[0]
    assert sorted(np.argsort(beat)[-2:]) == [3, 7]  # lags 4 and 8 line up with the beat, no other does
    assert np.asarray(rhythm_pool(x[:, :, :1], lags=5)).shape == (2, 0)  # one frame: no rhythm

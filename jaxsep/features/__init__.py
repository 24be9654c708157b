"""Features: per-stem log-mel maps, computed once per song, cached, and stored in one feature file.

    extract.featurize            songs → segment → stems → log-mel maps → a feature file (cached per song)
    extract.FeatureOptions       segment and mel parameters (each part of the cache keys)
    logmel.log_mel               one log-power mel map on a fixed dB scale, 458 frames per segment
    file.FeatureSet              a validated feature file in memory
    file.load_features / save_features   the ``.npz`` contract between the front end and the trial engine
    toy.toy_features             small generated feature sets with a known answer (tests, benchmarks)
    summary.summary_matrix       per-song summary features of a mix map (the classical reference's input)
"""

from .extract import FeatureOptions, featurize
from .file import FeatureSet, load_features, save_features
from .logmel import log_mel
from .toy import toy_features

__all__ = ["FeatureOptions", "FeatureSet", "featurize", "load_features", "log_mel", "save_features",
           "toy_features"]

"""Names and numbers shared by every module: one stem order, one map vocabulary, the paper's framing."""

from __future__ import annotations

#: Stem order of every separator's output, everywhere in jaxsep.
STEMS: tuple[str, ...] = ("bass", "drums", "other", "vocals")

#: Every map a feature file may hold: the mix, the mix without vocals, and each stem.
MAPS: tuple[str, ...] = ("mix", "novox", *STEMS)
#: Joins the maps of a map set in a model's or reference row's name (``bass+drums``).
MAP_JOIN = "+"

#: The paper's audio framing: 22,050 Hz, 128 mels, n_fft 2048, hop 512, 458 frames.
SAMPLE_RATE = 22_050
N_FFT = 2_048
HOP_LENGTH = 512
N_MELS = 128
N_FRAMES = 458
#: 458 hops of 512 samples (10.63 s). librosa's centred framing gives 1 + len // hop = 459 frames for it;
#: the front end documents how it keeps exactly N_FRAMES.
SEGMENT_SAMPLES = N_FRAMES * HOP_LENGTH
#: The segment's length in seconds (10.6348 s).
SEGMENT_SECONDS = SEGMENT_SAMPLES / SAMPLE_RATE

#: The mix's file name (without suffix) in a song folder: what `jaxsep separate` and `jaxsep synth` write
#: and what a class-folder data set's song folder must hold beside its true stems.
MIXTURE = "mixture"

#: Classes of the paper's data set (six EDM subgenres), and of the synthetic set.
PAPER_CLASSES = 6

#: Default half-width of the region of practical equivalence of the Bayesian comparison: a metric difference
#: smaller than this counts as no difference (``--rope``).
ROPE = 0.01

#: Version of the feature-file layout written by :func:`jaxsep.features.file.save_features`.
FEATURE_FORMAT_VERSION = 1

#: The longest song the synthetic-set generator renders, in seconds.
SYNTH_MAX_SECONDS = 600.0

"""htdemucs through the demucs package: 44.1 kHz stereo, demucs' own chunking.

Its weights are found offline by :mod:`jaxsep.separation.weights`.

``demucs_unittest`` is demucs' tiny untrained HDemucs, built from code with a fixed torch seed so that it is
deterministic; it is there for plumbing tests (shapes, rates, chunking), its stems are noise.

Separation follows ``demucs.api.Separator.separate_tensor``: normalise by the mean/std of the mono mix,
``apply_model`` with ``split=True`` and 25 % overlap (segments of the model's 7.8 s), undo the normalisation.
``shifts=0``: demucs' CLI default ``shifts=1`` adds a random time shift, which would make the cache keys lie;
on musdb18-sample the two agree within 0.05 dB.

Batches (:meth:`DemucsSeparator.separate_batch`): clips of equal length, each cut into stereo pieces, go through
``apply_model`` as one ``(batch, 2, samples)`` tensor, up to ``batch_size`` pieces per call. demucs chunks a batch
along time only (every chunk carries the whole batch through the model), and htdemucs in eval mode treats the
batch's entries independently (its normalisations are per entry), so the stems are those of one clip at a time
to float rounding: batched matrix products sum in another order (measured in tests/test_separation_batch.py).
``batch_size=1`` is :meth:`~DemucsSeparator.separate`'s computation exactly. The batch size is no part of the
signature: see :mod:`jaxsep.features.extract` for why cached stems serve every batch size.
"""

from __future__ import annotations

from importlib import metadata
from typing import Callable, Sequence

import numpy as np

from ..audio.files import fit_length, match_channels, resample
from ..constants import STEMS
from .base import check_batch_size, check_input
from .weights import UNITTEST_SEED, UNITTEST_SEGMENT_S, WeightFiles

#: Overlap between consecutive chunks, demucs' default.
OVERLAP = 0.25


class DemucsSeparator:
    """A demucs model (htdemucs by default) as a :class:`~jaxsep.separation.Separator`.

    Attributes:
      name: ``"demucs"``.
      signature: demucs version, model name, weights digest and the separation parameters.
      sample_rate: the model's rate, 44,100.
      channels: the model's channel count, 2.
    """

    name = "demucs"
    sample_rate = 44_100
    channels = 2

    def __init__(self, weights: WeightFiles, *, device: str | None = None):
        self.weights = weights
        self.device = device
        self._model = None
        self._signature: str | None = None

    @property
    def signature(self) -> str:
        if self._signature is None:
            # Hashing 84 MB of weights takes a fraction of a second; do it once, and only when asked.
            self._signature = (
                f"demucs-{metadata.version('demucs')} {self.weights.model_name} weights-{self.weights.digest()} "
                f"shifts-0 overlap-{OVERLAP} resample-soxr_hq"
            )
        return self._signature

    def separate(
        self,
        audio: np.ndarray,
        sample_rate: int,
        *,
        progress: Callable[[float], None] | None = None,
    ) -> dict[str, np.ndarray]:
        """Splits ``audio`` into the four stems with the model.

        Args:
          audio: float audio, shape ``(channels, samples)``, any rate. Mono is duplicated to stereo and the
            stems averaged back; more than two channels are separated two at a time.
          sample_rate: its rate in Hz; resampled to 44.1 kHz and back with soxr.
          progress: called with the (approximate) fraction done, 0.0 to 1.0, as chunks finish.

        Returns:
          ``{stem: (channels, samples) float32}`` for every stem of :data:`jaxsep.constants.STEMS`, at the input's
          rate, channel count and length. demucs' stems sum to the mix only approximately (about 33 dB
          mix-to-residual for htdemucs on musdb18-sample).

        Raises:
          AudioError: ``audio`` is not ``(channels, samples)``, has no samples or is not finite.
        """
        return self.separate_batch([audio], sample_rate, batch_size=1, progress=progress)[0]

    def separate_batch(
        self,
        clips: Sequence[np.ndarray],
        sample_rate: int,
        *,
        batch_size: int = 1,
        progress: Callable[[float], None] | None = None,
    ) -> list[dict[str, np.ndarray]]:
        """Splits several clips into stems, up to ``batch_size`` stereo pieces per model call.

        Each clip is cut into stereo pieces as :meth:`separate` does (channels two at a time, mono duplicated);
        pieces of equal length, from any clips, share calls. The stems equal :meth:`separate`'s of each clip to
        float rounding, and exactly for ``batch_size=1``.

        Args:
          clips: float audio, each of shape ``(channels, samples)``, all at ``sample_rate``; lengths may differ
            (each length is batched on its own).
          sample_rate: their rate in Hz; resampled to 44.1 kHz and back with soxr.
          batch_size: most pieces per ``apply_model`` call, >= 1. Memory grows with it: one call holds
            ``batch_size`` chunks of the model's segment (7.8 s for htdemucs) through the network at once.
          progress: called with the (approximate) fraction of all clips done, 0.0 to 1.0, as chunks finish.

        Returns:
          One ``{stem: (channels, samples) float32}`` per clip, in order, like :meth:`separate`'s.

        Raises:
          AudioError: a clip is not ``(channels, samples)``, has no samples or is not finite (checked before the
            model runs).
          ConfigError: ``batch_size`` is not an integer >= 1.
        """
        batch_size = check_batch_size(batch_size)
        clips = [check_input(clip, sample_rate) for clip in clips]
        model = self._load()
        report = progress if progress is not None else (lambda fraction: None)
        report(0.0)
        natives = [resample(clip, orig_sr=sample_rate, target_sr=self.sample_rate) for clip in clips]
        calls = _batch_calls(natives, batch_size)
        out = [{stem: np.zeros(native.shape, np.float32) for stem in STEMS} for native in natives]
        for index, call in enumerate(calls):
            stereo = np.stack([match_channels(natives[clip][group], 2) for clip, group in call])
            estimates = self._apply(model, stereo, lambda f, done=index: report((done + f) / len(calls)))
            for entry, (clip, group) in enumerate(call):
                for stem, estimate in estimates.items():
                    out[clip][stem][group] = match_channels(estimate[entry], len(group))
        separated = []
        for clip, stems in zip(clips, out):
            # resampling rounds lengths up: cut back to the input's length
            separated.append({
                stem: np.ascontiguousarray(
                    fit_length(resample(stems[stem], orig_sr=self.sample_rate, target_sr=sample_rate),
                               clip.shape[1]),
                    dtype=np.float32)
                for stem in STEMS
            })
        report(1.0)
        return separated

    def _load(self):
        """The torch model, loaded once and kept (loading htdemucs takes seconds)."""
        if self._model is None:
            self._model = _load_model(self.weights)
        return self._model

    def _apply(self, model, stereo: np.ndarray, report: Callable[[float], None]) -> dict[str, np.ndarray]:
        """``(batch, 2, samples)`` at the model rate -> ``{stem: (batch, 2, samples)}``, as ``demucs.api`` does
        it for each entry (normalised by its own mono mix's mean and std, one ``apply_model`` call for all)."""
        import torch
        from demucs.apply import apply_model

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        wav = torch.from_numpy(np.ascontiguousarray(stereo))
        # Entry by entry, with the very operations of one clip at a time, so that batch 1 is that exactly.
        scales = []
        for entry in wav:
            reference = entry.mean(0)
            scales.append((reference.mean(), reference.std() + 1e-8))
        normalised = torch.stack([(entry - mean) / std for entry, (mean, std) in zip(wav, scales)])
        total = _chunk_count(model, stereo.shape[-1])
        finished = [0]

        def callback(state: dict) -> None:
            if state.get("state") == "end":
                finished[0] += 1
                report(min(finished[0] / total, 1.0))

        with torch.no_grad():
            out = apply_model(model, normalised, shifts=0, split=True, overlap=OVERLAP, device=device,
                              callback=callback)
        out = torch.stack([out[i] * std + mean for i, (mean, std) in enumerate(scales)])
        out = out.cpu().numpy().astype(np.float32)
        return {source: out[:, i] for i, source in enumerate(model.sources)}


def _batch_calls(natives: list[np.ndarray], batch_size: int) -> list[list[tuple[int, list[int]]]]:
    """The model calls for clips ``(channels, samples)``: lists of up to ``batch_size`` stereo pieces
    ``(clip, channels)`` of one length, in clip order within each length."""
    by_length: dict[int, list[tuple[int, list[int]]]] = {}
    for clip, native in enumerate(natives):
        channels = native.shape[0]
        for first in range(0, channels, 2):
            by_length.setdefault(native.shape[1], []).append((clip, list(range(first, min(first + 2, channels)))))
    return [pieces[start: start + batch_size] for pieces in by_length.values()
            for start in range(0, len(pieces), batch_size)]


def _load_model(weights: WeightFiles):
    """Builds the torch model from :class:`WeightFiles`, reading only local files."""
    import torch
    from demucs.apply import BagOfModels

    if weights.source == "untrained":
        from demucs.pretrained import demucs_unittest

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(UNITTEST_SEED)
            model = demucs_unittest()
        # Its default 40 s segment would pad every call to 40 s of audio; 4 s keeps plumbing tests quick.
        model.segment = UNITTEST_SEGMENT_S
    elif weights.source == "model-repo":
        from demucs.pretrained import get_model

        model = get_model(weights.model_name, repo=weights.repo)
    else:
        if weights.source == "huggingface":
            from demucs.hf import load_safetensors_model as load_one
        else:
            from demucs.states import load_model as load_one
        models = [load_one(path) for path in weights.files]
        model = BagOfModels(models, weights.bag.get("weights"), weights.bag.get("segment"))
    model.eval()
    return model


def _chunk_count(model, length: int) -> int:
    """How many chunks ``apply_model(split=True, shifts=0)`` runs, for progress reporting."""
    sub_models = getattr(model, "models", [model])
    count = 0
    for sub in sub_models:
        segment_length = int(model.samplerate * float(sub.segment))
        stride = max(1, int((1 - OVERLAP) * segment_length))
        count += -(-length // stride)
    return max(1, count)

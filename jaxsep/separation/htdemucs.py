"""htdemucs through the demucs package: weights found offline, 44.1 kHz stereo, demucs' own chunking.

Weights are looked for, in this order, only on the file system (jaxsep never downloads them, so an offline
machine without them fails in milliseconds, not after minutes of hub retries):

1. ``model_repo`` when given (and only there): demucs' local-repository format, ``<name>.yaml`` listing model
   signatures plus ``<signature>[-<checksum>].th`` files, or a single ``<name>[-<checksum>].th``;
2. the Hugging Face cache (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``), where
   ``demucs.pretrained.get_model`` stores ``adefossez/HTDemucs`` (demucs >= 4.1);
3. the torch hub cache (``$TORCH_HOME/hub/checkpoints``, ``~/.cache/torch/hub/checkpoints``), where older
   demucs versions stored ``955717e8-8726e21a.th``.

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

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..audio.files import fit_length, match_channels, resample
from ..constants import STEMS
from ..errors import ConfigError
from .base import check_batch_size, check_input

DEFAULT_MODEL = "htdemucs"
UNITTEST_MODEL = "demucs_unittest"
#: demucs >= 4.1 keeps its models on the Hugging Face hub under this namespace.
HF_NAMESPACE = "adefossez"
#: Overlap between consecutive chunks, demucs' default.
OVERLAP = 0.25
#: The seed ``demucs_unittest``'s random weights are drawn with.
UNITTEST_SEED = 0
#: Chunk length for ``demucs_unittest``, seconds.
UNITTEST_SEGMENT_S = 4.0

HOW_TO_GET_WEIGHTS = (
    "jaxsep never downloads weights itself. With network access, fetch them once into the Hugging Face cache:\n"
    "    python -c \"from demucs.pretrained import get_model; get_model('{name}')\"\n"
    "or pass --model-repo DIR, a folder in demucs' local-repository format ({name}.yaml plus the .th files "
    "it names). The 'dsp' separator needs no weights."
)


class MissingWeightsError(ConfigError):
    """demucs weights are not where jaxsep looks for them; the message says where it looked and how to get them."""


@dataclass(frozen=True)
class WeightFiles:
    """Where a demucs model's weights are.

    Attributes:
      model_name: e.g. ``"htdemucs"``.
      source: ``"model-repo"``, ``"huggingface"``, ``"torch-hub"`` or ``"untrained"``.
      bag: the bag definition (``models``, optional ``weights`` and ``segment``), ``{}`` for a single model.
      files: the weight files, in the bag's model order (empty for ``"untrained"``).
      repo: the folder for ``"model-repo"``, else ``None``.
    """

    model_name: str
    source: str
    bag: dict
    files: tuple[Path, ...]
    repo: Path | None = None

    def digest(self) -> str:
        """sha256 (16 hex digits) of the weight files' contents, or of the seed for the untrained model."""
        if not self.files:
            return f"untrained-seed{UNITTEST_SEED}-segment{UNITTEST_SEGMENT_S:g}"
        sha = hashlib.sha256(repr(sorted(self.bag.items())).encode())
        for path in self.files:
            sha.update(_file_sha256(path).encode())
        return sha.hexdigest()[:16]


def find_weights(model_name: str = DEFAULT_MODEL, *, model_repo: Path | None = None) -> WeightFiles:
    """Finds a demucs model's weight files on disk (no network, no torch import).

    Args:
      model_name: a demucs model name, e.g. ``"htdemucs"``, or ``"demucs_unittest"``.
      model_repo: a demucs local-repository folder; when given, the caches are not searched.

    Returns:
      The :class:`WeightFiles`.

    Raises:
      MissingWeightsError: the weights are not there; the message names the places searched and how to get them.
    """
    if model_name == UNITTEST_MODEL:
        return WeightFiles(model_name, "untrained", {}, ())
    if model_repo is not None:
        found = _from_model_repo(model_name, Path(model_repo))
        if isinstance(found, str):
            raise MissingWeightsError(f"{found}\n{HOW_TO_GET_WEIGHTS.format(name=model_name)}")
        return found
    hf_dir, hub_dir = _hf_model_dir(model_name), _torch_hub_dir() / "checkpoints"
    found = _from_hf_cache(model_name, hf_dir) or _from_torch_hub(model_name, hub_dir)
    if found is None:
        raise MissingWeightsError(
            f"demucs model {model_name!r}: no weights in the Hugging Face cache ({hf_dir}) or the torch hub cache "
            f"({hub_dir}).\n{HOW_TO_GET_WEIGHTS.format(name=model_name)}"
        )
    return found


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


def _from_model_repo(model_name: str, repo: Path) -> WeightFiles | str:
    """The weights in a demucs local repository, or a message saying what is missing."""
    if not repo.is_dir():
        return f"--model-repo {repo}: not a folder"
    bag_file = repo / f"{model_name}.yaml"
    if bag_file.is_file():
        bag = _read_yaml(bag_file)
        files = [_th_file(repo, signature) for signature in bag.get("models", [])]
        missing = [sig for sig, path in zip(bag.get("models", []), files) if path is None]
        if missing or not files:
            return f"--model-repo {repo}: {bag_file.name} names models {missing or '[]'} with no .th file there"
        return WeightFiles(model_name, "model-repo", bag, tuple(files), repo)
    single = _th_file(repo, model_name)
    if single is not None:
        return WeightFiles(model_name, "model-repo", {}, (single,), repo)
    return f"--model-repo {repo}: no {model_name}.yaml or {model_name}.th in it"


def _th_file(folder: Path, signature: str) -> Path | None:
    """``<signature>.th`` or ``<signature>-<checksum>.th`` in ``folder``, as demucs' LocalRepo names them."""
    for path in sorted(folder.glob(f"{signature}*.th")):
        if path.stem == signature or path.stem.rsplit("-", 1)[0] == signature:
            return path
    return None


def _hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, resolved from the environment as huggingface_hub does."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "huggingface" / "hub"


def _hf_model_dir(model_name: str) -> Path:
    """Cache folder of the model's hub repository; the name mapping copies ``demucs.hf.hf_repo_name``."""
    if model_name == "htdemucs":
        repo = "HTDemucs"
    elif model_name.startswith("htdemucs_"):
        repo = "HTDemucs-" + model_name[len("htdemucs_"):]
    else:
        repo = "Demucs-" + model_name
    return _hf_hub_cache() / f"models--{HF_NAMESPACE}--{repo}"


def _from_hf_cache(model_name: str, model_dir: Path) -> WeightFiles | None:
    snapshots = model_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = model_dir / "refs" / "main"
    preferred = [snapshots / ref.read_text().strip()] if ref.is_file() else []
    # Newest first after the one refs/main points at: an interrupted download may leave older snapshots.
    others = sorted((p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for snapshot in preferred + others:
        bag_file = snapshot / f"{model_name}.yaml"
        if not bag_file.is_file():
            continue
        bag = _read_yaml(bag_file)
        files = [snapshot / f"{signature}.safetensors" for signature in bag.get("models", [])]
        if files and all(path.is_file() for path in files):
            return WeightFiles(model_name, "huggingface", bag, tuple(files))
    return None


def _torch_hub_dir() -> Path:
    """``torch.hub.get_dir()`` without importing torch."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]).expanduser() / "hub"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "torch" / "hub"


def _from_torch_hub(model_name: str, checkpoints: Path) -> WeightFiles | None:
    """Weights the legacy demucs downloader left in the torch hub cache, named by demucs' remote file list."""
    spec = importlib.util.find_spec("demucs")
    if spec is None or not spec.submodule_search_locations or not checkpoints.is_dir():
        return None
    remote = Path(list(spec.submodule_search_locations)[0]) / "remote"
    bag_file = remote / f"{model_name}.yaml"
    if not bag_file.is_file():
        return None
    bag = _read_yaml(bag_file)
    names = {line.strip().split("-", 1)[0]: Path(line.strip()).name
             for line in (remote / "files.txt").read_text().splitlines()
             if line.strip().endswith(".th")}
    files = [checkpoints / names[sig] for sig in bag.get("models", []) if sig in names]
    if not files or len(files) != len(bag.get("models", [])) or not all(path.is_file() for path in files):
        return None
    return WeightFiles(model_name, "torch-hub", bag, tuple(files))


def _read_yaml(path: Path) -> dict:
    import yaml  # PyYAML comes with demucs; imported here so the dsp path never needs it

    with open(path) as stream:
        data = yaml.safe_load(stream)
    if not isinstance(data, dict):
        raise MissingWeightsError(f"{path}: not a demucs bag-of-models file (expected a mapping with 'models')")
    return data


_SHA_CACHE: dict[tuple[str, int, float], str] = {}


def _file_sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) so a signature is hashed once per process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime)
    if key not in _SHA_CACHE:
        sha = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                sha.update(block)
        _SHA_CACHE[key] = sha.hexdigest()
    return _SHA_CACHE[key]

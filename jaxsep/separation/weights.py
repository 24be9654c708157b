"""Where a demucs model's weights are, found on the file system only (no network, no torch import).

Weights are looked for, in this order, only on the file system (jaxsep never downloads them, so an offline
machine without them fails in milliseconds, not after minutes of hub retries):

1. ``model_repo`` when given (and only there): demucs' local-repository format, ``<name>.yaml`` listing model
   signatures plus ``<signature>[-<checksum>].th`` files, or a single ``<name>[-<checksum>].th``;
2. the Hugging Face cache (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``), where
   ``demucs.pretrained.get_model`` stores ``adefossez/HTDemucs`` (demucs >= 4.1);
3. the torch hub cache (``$TORCH_HOME/hub/checkpoints``, ``~/.cache/torch/hub/checkpoints``), where older
   demucs versions stored ``955717e8-8726e21a.th``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

DEFAULT_MODEL = "htdemucs"
UNITTEST_MODEL = "demucs_unittest"
#: demucs >= 4.1 keeps its models on the Hugging Face hub under this namespace.
HF_NAMESPACE = "adefossez"
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

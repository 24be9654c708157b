"""The paper's protocol in PyTorch, mirroring jaxsep's models and trainer, as the peer the engine must beat.

Same architecture as :mod:`jaxsep.nn.models` (two blocks conv without bias → batch norm → ReLU → 2×2 max pool,
optional depthwise-separable conv, dropout 0.5, dense to the classes), same protocol as
:mod:`jaxsep.training.trainer` (per-map standardization with training-split statistics, class-weighted cross-entropy
averaged over the batch's rows, L1 + L2 penalty on every kernel, Adam, the last smaller batch trained on,
per-epoch test loss with penalty / accuracy / macro-F1, the epoch of minimum test loss reported), and the
same splits (the caller passes :func:`jaxsep.training.splits.make_splits`' arrays). Inits follow flax's
(``lecun_normal``: truncated normal, fan-in); the random streams differ, so trial ``t`` matches jaxsep's
trial ``t`` in distribution, not number for number.

Two runners:

* :func:`run_eager` — one trial after another, an ordinary eager training loop (what the paper's
  Keras-style code becomes in PyTorch);
* :func:`run_ensemble` — all trials as one ``torch.func`` ensemble: ``stack_module_state`` +
  ``functional_call`` + ``vmap(randomness="different")``, batch-norm running statistics stacked per member
  (their in-place updates then act on each member's own slice).

Tensors are NCHW inside (PyTorch's convolution layout); inputs arrive as jaxsep's ``(songs, mel, time, C)``.
Differences from jaxsep that do not change the protocol: PyTorch updates the running variance with the
unbiased batch variance (flax: biased; ``n/(n-1)`` with ``n`` = batch × mel × time ≥ 10⁵ elements here), and
the last batch is simply smaller instead of padded and masked (the same arithmetic).
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Flax's ``lecun_normal`` draws from a normal truncated at ±2σ and rescales by this so the variance is 1/fan_in.
_TRUNCATED_NORMAL_STD = 0.87962566103423978


def _lecun_normal_(weight: torch.Tensor, fan_in: int) -> None:
    """Flax's default kernel init (``variance_scaling(1, "fan_in", "truncated_normal")``), in place."""
    std = math.sqrt(1.0 / fan_in) / _TRUNCATED_NORMAL_STD
    nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-2 * std, b=2 * std)


class ConvBlock(nn.Module):
    """conv (no bias) → batch norm → ReLU → 2×2 max pool; ``(N, c_in, h, w)`` → ``(N, f, h // 2, w // 2)``."""

    def __init__(self, c_in: int, features: int, kernel_size: int, separable: bool, bn_momentum: float,
                 bn_epsilon: float):
        super().__init__()
        self.separable = separable
        if separable:
            # One k×k filter per input channel, then a 1×1 mix: jaxsep.nn.conv.SeparableConv.
            self.depthwise = nn.Conv2d(c_in, c_in, kernel_size, padding="same", groups=c_in, bias=False)
            self.pointwise = nn.Conv2d(c_in, features, 1, bias=False)
            _lecun_normal_(self.depthwise.weight, kernel_size * kernel_size)
            _lecun_normal_(self.pointwise.weight, c_in)
        else:
            self.conv = nn.Conv2d(c_in, features, kernel_size, padding="same", bias=False)
            _lecun_normal_(self.conv.weight, c_in * kernel_size * kernel_size)
        # PyTorch's momentum weighs the NEW batch statistic; flax's weighs the old running value.
        self.bn = nn.BatchNorm2d(features, eps=bn_epsilon, momentum=1.0 - bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pointwise(self.depthwise(x)) if self.separable else self.conv(x)
        return F.max_pool2d(F.relu(self.bn(x)), 2)


class TorchGenreCNN(nn.Module):
    """jaxsep's ``GenreCNN`` in PyTorch: logits ``(N, n_classes)`` from ``x (N, C, mel, time)``.

    The dense layer reads the pooled maps in flax's ``(h, w, c)`` flattening order, so its weight is the
    transpose of the flax kernel and the two models can share weights exactly.
    """

    def __init__(self, in_channels: int, n_classes: int, input_hw: tuple[int, int], *, filters=(16, 32),
                 kernel_size: int = 3, separable: bool = False, dropout: float = 0.5, bn_momentum: float = 0.9,
                 bn_epsilon: float = 1e-3):
        super().__init__()
        self.block1 = ConvBlock(in_channels, filters[0], kernel_size, separable, bn_momentum, bn_epsilon)
        self.block2 = ConvBlock(filters[0], filters[1], kernel_size, separable, bn_momentum, bn_epsilon)
        height, width = input_hw[0] // 2 // 2, input_hw[1] // 2 // 2
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(height * width * filters[1], n_classes)
        _lecun_normal_(self.dense.weight, self.dense.in_features)
        nn.init.zeros_(self.dense.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block2(self.block1(x))
        x = x.permute(0, 2, 3, 1).flatten(1)
        return self.dense(self.dropout(x))


def build_model(separable: bool, in_channels: int, n_classes: int, input_hw: tuple[int, int], config) -> TorchGenreCNN:
    """The network for a :class:`jaxsep.config.TrainConfig` (filters, kernel, dropout, batch norm)."""
    return TorchGenreCNN(in_channels, n_classes, input_hw, filters=tuple(config.filters),
                         kernel_size=config.kernel_size, separable=separable, dropout=config.dropout,
                         bn_momentum=config.bn_momentum, bn_epsilon=config.bn_epsilon)


def is_kernel(name: str) -> bool:
    """Conv, depthwise, pointwise and dense weights carry the penalty; biases and batch norm do not."""
    return name.endswith("weight") and ".bn." not in name


def kernel_penalty(named_params, l1: float, l2: float) -> torch.Tensor:
    """``l1 · Σ|w| + l2 · Σw²`` over the kernels in ``named_params`` (``(name, tensor)`` pairs)."""
    kernels = [p for name, p in named_params if is_kernel(name)]
    return sum(l1 * p.abs().sum() + l2 * p.square().sum() for p in kernels)


def macro_f1(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> float:
    """scikit-learn's macro F1 (classes occurring in labels or predictions, zero_division=0); ``(n,)`` ints."""
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (labels, predictions), 1)
    tp = np.diag(counts)
    denominator = counts.sum(0) + counts.sum(1)
    occurs = denominator > 0
    return float(np.sum(2 * tp[occurs] / denominator[occurs]) / max(occurs.sum(), 1))


def standardizer(x: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-map mean and std ``(C,)`` over the training songs of ``x (S, mel, time, C)``, as jaxsep computes them
    (mean of the per-song means and mean squares; every song has the same frame count)."""
    xs = x[train].astype(np.float64)
    mean = xs.mean(axis=(0, 1, 2))
    std = np.sqrt(np.maximum(np.square(xs).mean(axis=(0, 1, 2)) - mean**2, 1e-12))
    return mean.astype(np.float32), std.astype(np.float32)


def to_device_data(x: np.ndarray, labels: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``x (S, mel, time, C)`` → float32 NCHW ``(S, C, mel, time)`` on ``device``; labels int64 ``(S,)``."""
    x_nchw = torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(x, np.float32), -1, 1)))
    return x_nchw.to(device), torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=device)


def select_epoch(history: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The paper's selection: per trial, the metrics of the epoch with the minimum test loss.

    Args:
      history: ``test_loss``, ``test_accuracy``, ``test_f1`` each ``(trials, epochs)``.

    Returns:
      ``epoch``, ``test_loss``, ``test_accuracy``, ``test_f1`` each ``(trials,)``.
    """
    epoch = np.argmin(history["test_loss"], axis=1)
    rows = np.arange(len(epoch))
    return {"epoch": epoch, **{k: history[k][rows, epoch] for k in ("test_loss", "test_accuracy", "test_f1")}}


def _epoch_orders(train: np.ndarray, epochs: int, seed: int) -> list[np.ndarray]:
    """The shuffled training order of every epoch of one trial (numpy, seeded by the trial)."""
    rng = np.random.default_rng(seed)
    return [train[rng.permutation(len(train))] for _ in range(epochs)]


@dataclasses.dataclass(frozen=True)
class Tuning:
    """How a PyTorch user speeds up the loop: channels-last memory, bfloat16 autocast (weights, optimizer and
    batch-norm statistics stay float32), ``torch.compile`` of the model (``mode``; ``"reduce-overhead"`` uses CUDA
    graphs on a GPU). The default is plain eager float32."""

    channels_last: bool = False
    autocast: bool = False
    compile_mode: str | None = None


EAGER = Tuning()


def train_trial(x: torch.Tensor, y: torch.Tensor, trial: dict, seed: int, config, *, separable: bool,
                n_classes: int, tuning: Tuning = EAGER, compiled=None) -> dict[str, np.ndarray]:
    """One trial in PyTorch (eager float32 unless ``tuning`` says otherwise).

    Args:
      x: NCHW float32 features of every song, shape ``(S, C, mel, time)``, on the device to train on.
      y: int64 labels ``(S,)`` on that device.
      trial: numpy ``train (n_train,)``, ``test (n_test,)`` song indices, ``class_weights (n_classes,)``,
        and ``mean``, ``std`` ``(C,)`` (from :func:`standardizer`).
      seed: seeds the init, the dropout stream and the shuffling.
      config: a :class:`jaxsep.config.TrainConfig`.
      tuning: see :class:`Tuning`.
      compiled: ``(module, forward)`` built once by :func:`run_eager` and reused by every trial (a new
        module per trial would recompile); the module gets this trial's initial weights.

    Returns:
      ``train_loss``, ``test_loss``, ``test_accuracy``, ``test_f1`` each ``(epochs,)``.
    """
    device = x.device
    torch.manual_seed(seed)
    model = build_model(separable, x.shape[1], n_classes, tuple(x.shape[2:]), config).to(device)
    forward = model
    if compiled is not None:
        compiled[0].load_state_dict(model.state_dict())
        model, forward = compiled
    if tuning.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=1e-8)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=tuning.autocast)
    mean = torch.as_tensor(trial["mean"], device=device)[None, :, None, None]
    std = torch.as_tensor(trial["std"], device=device)[None, :, None, None]
    weights = torch.as_tensor(trial["class_weights"], device=device)
    test = torch.as_tensor(trial["test"], device=device)
    batch_size = config.batch_size
    # Losses stay on the device until the trial ends: no host sync per step.
    train_losses, test_losses, test_predictions = [], [], []
    for order in _epoch_orders(np.asarray(trial["train"]), config.epochs, seed):
        model.train()
        order = torch.as_tensor(order, device=device)
        total = torch.zeros((), device=device)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            xb, yb = (x[index] - mean) / std, y[index]
            with autocast:
                logits = forward(xb)
            cross_entropy = F.cross_entropy(logits.float(), yb, reduction="none")
            # Keras class_weight: weighted per-sample loss averaged over the batch's rows.
            loss = (cross_entropy * weights[yb]).mean() + kernel_penalty(model.named_parameters(), config.l1, config.l2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total = total + loss.detach() * len(index)
        train_losses.append(total / len(order))
        model.eval()
        with torch.no_grad(), autocast:
            logits = torch.cat([forward((x[test[s : s + batch_size]] - mean) / std)
                                for s in range(0, len(test), batch_size)]).float()
            test_losses.append(F.cross_entropy(logits, y[test])
                               + kernel_penalty(model.named_parameters(), config.l1, config.l2))
            test_predictions.append(logits.argmax(-1))
    labels = y[test].cpu().numpy()
    predictions = torch.stack(test_predictions).cpu().numpy()
    return {
        "train_loss": torch.stack(train_losses).cpu().numpy(),
        "test_loss": torch.stack(test_losses).cpu().numpy(),
        "test_accuracy": (predictions == labels).mean(axis=1),
        "test_f1": np.array([macro_f1(labels, p, n_classes) for p in predictions]),
    }


def _trial_inputs(x_np: np.ndarray, splits: dict, t: int) -> dict:
    mean, std = standardizer(x_np, splits["train"][t])
    return {"train": splits["train"][t], "test": splits["test"][t], "class_weights": splits["class_weights"][t],
            "mean": mean, "std": std}


def run_eager(x_np, labels, splits, seeds, config, *, separable, n_classes, device="cpu",
              tuning: Tuning = EAGER) -> dict[str, np.ndarray]:
    """Trials one after another with :func:`train_trial` (``tuning``: :class:`Tuning`).

    Args:
      x_np: the model's maps, shape ``(songs, mel, time, C)``.
      labels: ``(songs,)`` ints.
      splits: :func:`jaxsep.training.splits.make_splits` arrays (leading ``(trials,)`` axis); validation is not used.
      seeds: ``(trials,)`` per-trial seeds.

    Returns:
      per-epoch metrics, each ``(trials, epochs)``.
    """
    x, y = to_device_data(x_np, labels, device)
    compiled = None
    if tuning.compile_mode is not None:
        module = build_model(separable, x.shape[1], n_classes, tuple(x.shape[2:]), config).to(x.device)
        if tuning.channels_last:
            module = module.to(memory_format=torch.channels_last)
        compiled = (module, torch.compile(module, mode=tuning.compile_mode))
    outs = [train_trial(x, y, _trial_inputs(x_np, splits, t), int(seed), config, separable=separable,
                        n_classes=n_classes, tuning=tuning, compiled=compiled) for t, seed in enumerate(seeds)]
    return {k: np.stack([o[k] for o in outs]) for k in outs[0]}


def run_ensemble(x_np, labels, splits, seeds, config, *, separable, n_classes, device="cpu") -> dict[str, np.ndarray]:
    """All trials at once as a ``torch.func`` ensemble (same arguments and return value as :func:`run_eager`).

    Member ``t`` is initialised and shuffled exactly as :func:`run_eager` 's trial ``t``; only the dropout
    stream differs (``vmap(randomness="different")`` draws one batched mask). Adam acts elementwise, so one
    optimizer over the stacked parameters is each member's own Adam, and the gradient of the summed member
    losses is each member's own gradient (members share nothing).
    """
    from torch.func import functional_call, stack_module_state

    x, y = to_device_data(x_np, labels, device)
    members = len(seeds)
    models = []
    for seed in seeds:
        torch.manual_seed(int(seed))
        models.append(build_model(separable, x.shape[1], n_classes, tuple(x.shape[2:]), config).to(device))
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    optimizer = torch.optim.Adam(list(params.values()), lr=config.learning_rate, eps=1e-8)
    inputs = [_trial_inputs(x_np, splits, t) for t in range(members)]
    mean = torch.as_tensor(np.stack([i["mean"] for i in inputs]), device=device)[:, None, :, None, None]
    std = torch.as_tensor(np.stack([i["std"] for i in inputs]), device=device)[:, None, :, None, None]
    weights = torch.as_tensor(splits["class_weights"], device=device)
    test = torch.as_tensor(splits["test"], device=device, dtype=torch.int64)
    orders = [_epoch_orders(np.asarray(splits["train"][t]), config.epochs, int(s)) for t, s in enumerate(seeds)]

    def member_loss(p, b, xb, yb, w):
        logits = functional_call(base, (p, b), (xb,))
        cross_entropy = F.cross_entropy(logits, yb, reduction="none")
        return (cross_entropy * w[yb]).mean() + kernel_penalty(p.items(), config.l1, config.l2)

    def member_eval(p, b, xb):
        return functional_call(base, (p, b), (xb,))

    batched_loss = torch.func.vmap(member_loss, randomness="different")
    batched_eval = torch.func.vmap(member_eval)
    n_train, batch_size = splits["train"].shape[1], config.batch_size
    train_losses, test_losses, test_predictions = [], [], []
    for epoch in range(config.epochs):
        base.train()
        order = torch.as_tensor(np.stack([o[epoch] for o in orders]), device=device, dtype=torch.int64)
        total = torch.zeros(members, device=device)
        for start in range(0, n_train, batch_size):
            index = order[:, start : start + batch_size]                      # (members, b)
            xb, yb = (x[index] - mean) / std, y[index]                        # (members, b, C, mel, time)
            losses = batched_loss(params, buffers, xb, yb, weights)           # (members,)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            total = total + losses.detach() * index.shape[1]
        train_losses.append(total / n_train)
        base.eval()
        with torch.no_grad():
            logits = torch.cat([batched_eval(params, buffers, (x[test[:, s : s + batch_size]] - mean) / std)
                                for s in range(0, test.shape[1], batch_size)], dim=1)   # (members, n_test, classes)
            ce = F.cross_entropy(logits.flatten(0, 1), y[test].flatten(), reduction="none").view(members, -1)
            penalty = torch.stack([kernel_penalty(((k, v[m]) for k, v in params.items()), config.l1, config.l2)
                                   for m in range(members)])
            test_losses.append(ce.mean(1) + penalty)
            test_predictions.append(logits.argmax(-1))
    labels_test = y[test].cpu().numpy()                                       # (members, n_test)
    predictions = torch.stack(test_predictions, dim=1).cpu().numpy()          # (members, epochs, n_test)
    return {
        "train_loss": torch.stack(train_losses, 1).cpu().numpy(),
        "test_loss": torch.stack(test_losses, 1).cpu().numpy(),
        "test_accuracy": (predictions == labels_test[:, None, :]).mean(axis=2),
        "test_f1": np.array([[macro_f1(labels_test[m], p, n_classes) for p in predictions[m]]
                             for m in range(members)]),
    }

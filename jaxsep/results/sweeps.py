"""A hyperparameter sweep (:func:`jaxsep.training.sweep.run_sweep`) as a markdown table."""

from __future__ import annotations


def sweep_markdown(sweep: dict) -> str:
    """One row per combination: mean test accuracy by epoch, the F1 of the last epoch, its spread, and how
    many trials diverged or failed."""
    epochs = len(sweep["points"][0]["test_accuracy"]["mean"]) if sweep["points"] else 0
    lines = [
        f"`{sweep['model']}`, {sweep['trials']} trials per combination (seeds {sweep['seed']}.."
        f"{sweep['seed'] + sweep['trials'] - 1}, the same splits in every row). Mean test accuracy by epoch; "
        "F1 and its sd at the last epoch; 'paper' = accuracy at the minimum-test-loss epoch.",
        "",
        "| batch | lr | l1 | l2 | dropout | " + " | ".join(f"acc e{e + 1}" for e in range(epochs))
        + " | F1 last (sd) | acc paper | start → end train loss | diverged | failed |",
        "|" + "---|" * (5 + epochs + 5),
    ]
    for p in sweep["points"]:
        accuracy = p["test_accuracy"]["mean"] or [float("nan")] * epochs
        f1_mean = p["test_f1"]["mean"][-1] if p["test_f1"]["mean"] else float("nan")
        f1_sd = p["test_f1"]["std"][-1] if p["test_f1"]["std"] else float("nan")
        loss = p["train_loss"]["mean"]
        losses = f"{p['first_step_loss_mean']:.2f} → {loss[-1]:.2f}" if loss else "–"
        lines.append(
            f"| {p['batch_size']} | {p['learning_rate']:g} | {p['l1']:g} | {p['l2']:g} | {p['dropout']:g} | "
            + " | ".join(f"{a:.3f}" for a in accuracy)
            + f" | {f1_mean:.3f} ({f1_sd:.3f}) | {p['paper_accuracy_mean']:.3f} | {losses} | {p['diverged']} "
              f"| {p['failed']} |"
        )
    return "\n".join(lines) + "\n"

"""The distillation report plot: per-layer agreement and LUT counts, accuracies, time, memory.

:func:`plot_distillation` draws ``metrics.json`` of a distillation run (see
:func:`lutnn.distill.distill`) into one PNG with the non-interactive Agg backend.
"""

from __future__ import annotations

import os

__all__ = ["plot_distillation"]


def plot_distillation(metrics: dict, path: str | os.PathLike) -> None:
    """Write the report PNG of a distillation run to ``path`` (atomically).

    Left: per-layer bit agreement with the teacher on validation data (end to end, and
    "local": the teacher block fed the student's own inputs), each block labelled with its
    fan-in and LUT count.  Right: teacher and student test accuracy before and after fine-tuning.
    The title line gives LUTs, wall time and peak memory.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lutnn import io

    layers = metrics.get("layers", [])
    fig, (ax, bx) = plt.subplots(
        1, 2, figsize=(max(8.5, 4.5 + 1.2 * len(layers)), 4.8),
        gridspec_kw={"width_ratios": [max(2, len(layers)), 2]},
    )
    xs = range(len(layers))
    width = 0.38
    agree = [100 * layer["agreement"] for layer in layers]
    local = [100 * layer.get("local_agreement", layer["agreement"]) for layer in layers]
    for offset, values, label, color in ((-width / 2, agree, "vs teacher (end to end)",
                                          "#3b6ea8"),
                                         (width / 2, local, "vs teacher fed the student's "
                                          "inputs (local)", "#9cc0e6")):
        bars = ax.bar([x + offset for x in xs], values, width, label=label, color=color)
        for bar, v in zip(bars, values, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, v + 0.3, f"{v:.1f}", ha="center",
                    va="bottom", fontsize=7)
    low = min([*agree, *local, 90.0])
    ax.set_ylim(max(0.0, low - 5), 101.5)
    ticks = [f"{layer['name']}\nfan-in {layer['fan_in']:,}\n{layer['luts']:,} LUTs"
             for layer in layers]
    ax.set_xticks(list(xs), ticks, fontsize=8)
    ax.set_ylabel("bit agreement with teacher, val (%)")
    ax.set_title("per-layer agreement", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2,
              frameon=False)
    ax.grid(axis="y", alpha=0.3)

    labels = ["teacher", "student\n(distilled)", "student\n(fine-tuned)"]
    values = [metrics["teacher_test_accuracy"], metrics["test_accuracy_before_finetune"],
              metrics["test_accuracy"]]
    colors = ["#777777", "#3b6ea8", "#d17a22"]
    if not metrics.get("finetune_epochs"):
        labels, values, colors = labels[:2], values[:2], colors[:2]
    bars = bx.bar(labels, [100 * v for v in values], color=colors)
    for bar, v in zip(bars, values, strict=True):
        bx.text(bar.get_x() + bar.get_width() / 2, 100 * v + 0.2, f"{100 * v:.2f}%",
                ha="center", va="bottom", fontsize=9)
    bx.set_ylim(max(0.0, 100 * min(values) - 8), 100.5)
    bx.set_ylabel("test accuracy (%)")
    bx.set_title("accuracy", fontsize=10)
    bx.grid(axis="y", alpha=0.3)

    fig.suptitle(
        f"distilled {metrics.get('teacher_model', 'teacher')}: {metrics['luts']:,} LUTs, "
        f"{metrics['seconds']:.0f} s, peak memory {metrics['peak_memory_mb']:.0f} MB",
        fontsize=11,
    )
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)

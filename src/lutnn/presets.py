"""Named recipes: a model family, its config and its training settings, by size.

``lutnn train --preset large`` trains what ``benchmarks/pareto.py`` measures; explicit flags
(``--epochs``, ``--config``...) override a preset's values.  LUT budgets of ``small``,
``medium``, ``large`` are whole designs as Yosys ``synth_xilinx`` counts them (encoder, LUT
layers, popcounts, argmax); those of ``thermo-*`` exclude the input encoder (the peers'
convention; ``lutnn synth`` reports both), see docs/results_lut.md for what each one reaches.
``dwn-mnist`` is DWN's MNIST example as it is (:data:`DWN_MNIST`).

Every LUT-Net preset uses DWN's ingredients (learned wiring in the first layer, EFD input
gradients); ``small``, ``medium`` and ``large`` use the 1-bit ``pixel >= 128`` encoder, which
costs no LUT at all: the comparison is bit 7 of the pixel.  Training images are moved by a
random -1..1 pixels per axis (``shift``; +0.5 validation points on the medium preset).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lutnn.errors import LutnnError


@dataclass(frozen=True)
class Preset:
    """One named recipe."""

    model: str  # model family (lutnn.models.MODELS)
    config: dict = field(default_factory=dict)  # model config fields
    train: dict = field(default_factory=dict)  # TrainConfig fields
    budget: str = ""  # what it is sized for, in words
    distill: dict = field(default_factory=dict)  # DistillConfig defaults for its students


def _lut_mlp(layers: list[int], epochs: int, budget: str, *, encoder: str = "threshold",
             levels: int = 1) -> Preset:
    group = layers[-1] // 10
    return Preset(
        "lut-mlp",
        {"encoder": encoder, "levels": levels, "layers": layers, "learned_wiring": 1,
         "input_grad": "efd", "tau": round(group / 30, 2)},
        {"epochs": epochs, "batch_size": 128, "shift": 1},
        budget,
    )


#: DWN's MNIST example (its repository's examples/mnist.py, ../shared/ANCHORS.md), field by
#: field: a distributive thermometer of 3 thresholds per pixel (training-set quantiles i/4),
#: 2,000 LUT6 with learned wiring over all 2,352 bits, 1,000 LUT6 on random wiring, EFD input
#: gradients, DWN's tables (uniform(-1, 1), clamped to [-1, 1], identity STE), GroupSum with
#: tau = 1/0.3; Adam at 1e-2, StepLR(step_size=14, gamma=0.1) stepped per epoch (so x0.1
#: after epochs 14 and 28), batch 32, 30 epochs, no augmentation.  Unlike the example, the
#: weights kept are the best epoch on a validation split carved from the training set (the
#: example trains on all 60,000 images and reports the last epoch on the test set).
DWN_MNIST = Preset(
    "lut-mlp",
    {"encoder": "distributive", "levels": 3, "layers": [2000, 1000], "k": 6,
     "learned_wiring": 1, "candidates": 0, "input_grad": "efd", "tau": 1 / 0.3,
     "table_rule": "dwn", "bn": False},
    {"epochs": 30, "batch_size": 32, "lr": 1e-2, "schedule": "step", "step_epochs": 14,
     "step_gamma": 0.1, "shift": 0},
    "DWN's MNIST example, exactly (98.46% in its tutorial, 98.31% in the paper)",
)


def _mobilenet(stem: int, channels: list[int], hidden: list[int], group: int, *,
               binary_weights: bool, lr: float, epochs: int, budget: str,
               finetune_epochs: int, max_fan_in: int = 0, tree_width: int = 0,
               prune_epochs: int = 0) -> Preset:
    """A MobileNet-like teacher (``teacher-mobilenet``): a full 3x3 stem, then depthwise 3x3
    (4 filters per channel) + pointwise 1x1 blocks, each of them stepping 2 pixels (28 -> 14
    -> 7 -> 4), a small dense tail and a popcount head of ``group`` bits per class.

    The recipe (benchmarks/teacher_recipe.py, docs/results_distill.md): strided depthwise
    convs instead of OR-pooling bits (+7.4 points after 3 epochs), 4 depthwise filters per
    channel (+1.4), Adam at 1e-2 rather than 1e-3, images moved by +-1 pixel.  Its students'
    distillation defaults: the closed-form fit, then fine-tuning against the teacher's class
    scores mixed with the labels, on shifted images.
    """
    return Preset(
        "teacher-mobilenet",
        {"stem_channels": stem, "channels": channels, "hidden": hidden, "group_size": group,
         "tau": round(group / 5, 2), "downsample": "stride", "depth_multiplier": 4,
         "binary_weights": binary_weights, "max_fan_in": max_fan_in,
         **({"tree_width": tree_width} if tree_width else {}),
         **({"prune_epochs": prune_epochs} if prune_epochs else {})},
        {"epochs": epochs, "batch_size": 128, "shift": 1, "lr": lr},
        budget,
        distill={"finetune_epochs": finetune_epochs, "finetune_kd_alpha": 0.5,
                 "finetune_kd_temperature": 2.0, "finetune_shift": 1,
                 # an exact copy's tables sit at +-1, the edge of the STE's live range
                 **({"finetune_table_scale": 0.5} if tree_width else {})},
    )


PRESETS: dict[str, Preset] = {
    "small": _lut_mlp([300, 150], 10, "<= 700 LUTs, whole design"),
    "medium": _lut_mlp([1000, 400], 10, "<= 2,000 LUTs, whole design"),
    "large": _lut_mlp([2200, 800], 30, "<= 4,000 LUTs, whole design"),
    "dwn-mnist": DWN_MNIST,
    # The peers' convention (issue 22): LUTs counted with the input encoder excluded, so
    # these spend bits on a richer encoder (DWN's 3-level distributive thermometer, 2,352
    # bits).  Sized from the presets above (Yosys: ~1.2-1.4 LUTs per head bit besides the
    # nodes).  Numbers pending: not trained yet (the lead's runs, docs/results_lut.md).
    "thermo-small": _lut_mlp([300, 150], 10, "<= 700 LUTs, encoder excluded",
                             encoder="distributive", levels=3),
    "thermo-medium": _lut_mlp([850, 200], 10, "<= 1,400 LUTs, encoder excluded",
                              encoder="distributive", levels=3),
    "thermo-large": _lut_mlp([2200, 800], 30, "<= 4,000 LUTs, encoder excluded",
                             encoder="distributive", levels=3),
    # MobileNet-like teachers for distillation into streaming LUT-CNNs (lutnn distill)
    "mobilenet-large": _mobilenet(32, [64, 64], [128], 10, binary_weights=False, lr=1e-2,
                                  epochs=15, finetune_epochs=3,
                                  budget="student: <= 5,000 LUTs as a stream, whole design"),
    # every neuron has at most 6 inputs (the stem and depthwise convs connected to 6 of theirs,
    # pointwise and dense neurons as trees of 6 + 1 neurons), so the student is an exact copy;
    # which 6 is learned, pruned by |W| over the first 5 epochs (random: 95.40% test, pruned:
    # 96.79%, docs/results_distill.md, session 10); a dense layer of 256 trees rather than 128
    # (+0.6 test in 8-epoch ablations, session 11; wider conv blocks and window trees: no gain).
    # Best trained against a dense teacher's scores: `lutnn train --preset mobilenet-large
    # --out D`, then `lutnn train --preset mobilenet-tree --teacher D` (97.22% test)
    "mobilenet-tree": _mobilenet(32, [64, 64], [256], 10, binary_weights=False, lr=1e-2,
                                 epochs=15, finetune_epochs=3, max_fan_in=6, tree_width=6,
                                 prune_epochs=5,
                                 budget="student: an exact copy of the teacher, then fine-tuned; "
                                        "<= 5,000 LUTs as a stream, whole design"),
    # binary weights, every input connected: 93.75% after 3 epochs at 1e-2, where the same
    # net with max_fan_in 36 reached 79.45% (and, at 3e-2, swung between 25% and 77% val)
    "mobilenet-small": _mobilenet(16, [32, 32], [], 10, binary_weights=True, lr=1e-2,
                                  epochs=10, finetune_epochs=2,
                                  budget="student: <= 2,000 LUTs as a stream, whole design; "
                                         "binary weights: the teacher exports as an XNOR-Net"),
    # JSC (lutnn data jsc), after DWN: a 200-bit distributive thermometer per feature on
    # 16-bit fixed-point inputs (hls4ml's input width), one learned-wiring LUT6 layer, EFD
    "jsc-small": Preset("lut-mlp", {"encoder": "distributive", "levels": 200, "width": 16,
                                    "layers": [50], "learned_wiring": 1, "input_grad": "efd",
                                    "tau": 1.0}, {"epochs": 30, "batch_size": 256},
                        "JSC: one layer of 50 LUT6 (DWN's small JSC model)"),
    "jsc-large": Preset("lut-mlp", {"encoder": "distributive", "levels": 200, "width": 16,
                                    "layers": [1000], "learned_wiring": 1, "input_grad": "efd",
                                    "tau": 6.67}, {"epochs": 30, "batch_size": 256},
                        "JSC: one layer of 1,000 LUT6 (DWN's large JSC model)"),
}


def preset_of_run(record: dict) -> str | None:
    """The name of the preset a run was trained with, by content: the first preset whose model
    and config equal the run record's (``model``, ``config``), else None.

    Matching the recipe itself (not a name written at training time) means a run trained
    with ``--model teacher-mobilenet --config`` the preset's fields gets the preset's
    distillation defaults too, and a run whose config was overridden does not.
    """
    from lutnn.errors import LutnnError
    from lutnn.models import config_to_dict, make_config

    model, config = record.get("model"), record.get("config")
    try:  # defaults filled in: a record written before a field existed has its default
        have = config_to_dict(make_config(model, config))
    except (LutnnError, TypeError):
        return None
    for name, preset in PRESETS.items():
        if preset.model == model and config_to_dict(
                make_config(preset.model, preset.config)) == have:
            return name
    return None


def distill_defaults(teacher_record: dict) -> dict:
    """DistillConfig fields the teacher's preset sets for its students ({} without one)."""
    name = preset_of_run(teacher_record)
    return dict(PRESETS[name].distill) if name else {}


def get_preset(name: str) -> Preset:
    """Look up a preset; an unknown name is a user error listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise LutnnError(f"unknown preset {name!r}; choose one of: {known}") from None

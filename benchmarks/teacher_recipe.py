"""Teacher recipe search: MobileNet-like binarized teachers, one change at a time.

Each variant trains with ``lutnn.train.train`` (the CLI's loop) into ``runs/recipe/NAME`` and
its test/val accuracy and seconds per epoch are appended to ``--json`` as it finishes, so a stop
loses only the running variant.  Usage::

    python benchmarks/teacher_recipe.py --epochs 3 --only ref,stride,tau1
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

BASE = {"stem_channels": 32, "channels": [64, 64], "hidden": [128], "group_size": 20}

VARIANTS: dict[str, tuple[dict, dict]] = {
    # name: (model config changes, TrainConfig changes)
    "ref": ({}, {}),
    "stride": ({"downsample": "stride"}, {}),
    "tau1": ({"tau": 1.0}, {}),
    "tau2": ({"tau": 2.0}, {}),
    "lr1e-2": ({}, {"lr": 1e-2}),
    "lr3e-3": ({}, {"lr": 3e-3}),
    "real": ({"binary_weights": False}, {}),
    "nohidden": ({"hidden": []}, {}),
    "wide": ({"channels": [64, 128], "halve": [1, 1, 1], "hidden": []}, {}),
    "stride_tau2_lr3e-3": ({"downsample": "stride", "tau": 2.0}, {"lr": 3e-3}),
    "s_lr3e-3": ({"downsample": "stride"}, {"lr": 3e-3}),
    "s_lr1e-2": ({"downsample": "stride"}, {"lr": 1e-2}),
    "s_lr1e-2_tau2": ({"downsample": "stride", "tau": 2.0}, {"lr": 1e-2}),
    "s_lr1e-2_g50": ({"downsample": "stride", "group_size": 50}, {"lr": 1e-2}),
    "s_lr1e-2_real": ({"downsample": "stride", "binary_weights": False}, {"lr": 1e-2}),
    "s_lr3e-2": ({"downsample": "stride"}, {"lr": 3e-2}),
    "r_mult2": ({"downsample": "stride", "binary_weights": False, "depth_multiplier": 2},
                {"lr": 1e-2}),
    "r_mult4": ({"downsample": "stride", "binary_weights": False, "depth_multiplier": 4},
                {"lr": 1e-2}),
    "r_wide": ({"downsample": "stride", "binary_weights": False, "stem_channels": 64,
                "channels": [128, 128]}, {"lr": 1e-2}),
    "r_stemfull": ({"downsample": "stride", "binary_weights": False, "halve": [0, 1, 1]},
                   {"lr": 1e-2}),
    "r_pool": ({"binary_weights": False}, {"lr": 1e-2}),
    "L1": ({"downsample": "stride", "binary_weights": False, "halve": [0, 1, 1],
            "depth_multiplier": 4, "hidden": []}, {"lr": 1e-2}),
    "L2": ({"downsample": "stride", "binary_weights": False, "halve": [0, 1, 1],
            "depth_multiplier": 2, "channels": [64, 128], "hidden": []}, {"lr": 1e-2}),
    "small_bin_lr1e-2": ({"stem_channels": 16, "channels": [32, 32], "hidden": [], "group_size": 10,
                          "tau": 2.0, "downsample": "stride", "depth_multiplier": 4},
                         {"lr": 1e-2}),
    "small_bin36_lr1e-2": ({"stem_channels": 16, "channels": [32, 32], "hidden": [],
                            "group_size": 10, "tau": 2.0, "downsample": "stride",
                            "depth_multiplier": 4, "max_fan_in": 36}, {"lr": 1e-2}),
    "s_real_e20": ({"downsample": "stride", "binary_weights": False}, {"lr": 1e-2, "epochs": 20}),
    "s_bin_e20": ({"downsample": "stride"}, {"lr": 3e-2, "epochs": 20}),
}


def main() -> None:
    from lutnn.train import TrainConfig, train

    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--only", default=",".join(VARIANTS))
    ap.add_argument("--base", default=json.dumps(BASE))
    ap.add_argument("--tag", default="screen")
    ap.add_argument("--json", default="benchmarks/results/teacher_recipe.json")
    args = ap.parse_args()
    out = Path(args.json)
    results = json.loads(out.read_text()) if out.exists() else []
    base = json.loads(args.base)
    for name in args.only.split(","):
        cfg_change, train_change = VARIANTS[name]
        cfg = {**base, **cfg_change}
        tcfg = {"epochs": args.epochs, "shift": 1, "batch_size": 128, **train_change}
        run = Path("runs/recipe") / f"{args.tag}-{name}"
        if run.exists():
            continue
        t0 = time.time()
        m = train("teacher-mobilenet", run, model_overrides=cfg, train_cfg=TrainConfig(**tcfg))
        row = {"tag": args.tag, "variant": name, "config": cfg, "train": tcfg,
               "test_accuracy": m["test_accuracy"], "val_accuracy": m["val_accuracy"],
               "seconds_per_epoch": round(m["seconds"] / max(m["epochs"], 1), 1),
               "val_per_epoch": [h["val_accuracy"] for h in m["history"]],
               "wall_seconds": round(time.time() - t0, 1), "threads": os.environ.get(
                   "OMP_NUM_THREADS", "default")}
        results.append(row)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(out)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

"""``lutnn train``: a teacher or LUT-Net into a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import lutnn.cli.common as common
from lutnn.cli.common import add_scale_arguments, default, positive_float, positive_int, seed
from lutnn.errors import LutnnError


def add_parser(sub) -> None:
    from lutnn.models import MODELS
    from lutnn.presets import PRESETS
    from lutnn.train import TrainConfig as C

    p = sub.add_parser("train", help="train a teacher or LUT-Net into a run folder")
    p.add_argument("--model", help=f"one of: {', '.join(sorted(MODELS))}")
    p.add_argument("--preset", help=f"a named recipe: {', '.join(PRESETS)} "
                   "(model, config and epochs; other flags override it)")
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--epochs", type=positive_int, help=f"training epochs {default(C, 'epochs')}")
    p.add_argument("--batch-size", type=positive_int,
                   help=f"batch size {default(C, 'batch_size')}")
    p.add_argument("--lr", type=positive_float,
                   help="peak Adam learning rate (default: 1e-3 teachers, 1e-2 LUT-Nets)")
    p.add_argument("--data", help="IDX folder, .npz file, or a table (.csv, or .npz with 2-D "
                   "x_train) (default: MNIST, found or fetched)")
    p.add_argument("--test-data", metavar="FILE",
                   help="a table's test split from its own file (a .csv with the same columns, "
                   "or a .npz: its x_test / y_test); every row of --data then trains (default: "
                   "a seeded 20%% of a .csv's rows, a .npz's x_test)")
    p.add_argument("--label", metavar="COLUMN",
                   help="with a .csv table: the label column (default: the last column)")
    p.add_argument("--seed", type=seed, default=C.seed, help=f"random seed {default(C, 'seed')}")
    p.add_argument("--val-size", type=positive_int,
                   help="validation samples, carved from the training set "
                   f"{default(C, 'val_size', '10%% of the training rows, at most 5000')}")
    p.add_argument("--config", help="JSON file of model config fields to override")
    p.add_argument("--resume", action="store_true",
                   help="continue from the run's checkpoint (with the run's settings; a larger "
                   "--epochs trains it longer: one more schedule cycle over the added epochs)")
    p.add_argument("--teacher", help="run folder of a trained model whose class scores guide "
                   "training (knowledge distillation)")
    p.add_argument("--kd-alpha", type=float, help="with --teacher: weight of the teacher's soft "
                   f"targets {default(C, 'kd_alpha')}")
    p.add_argument("--kd-temperature", type=float,
                   help=f"with --teacher: softmax temperature {default(C, 'kd_temperature')}")
    p.add_argument("--kd-standardize", action="store_true", default=None,
                   help="with --teacher: compare the two score vectors standardized (mean 0, "
                        "std 1 per sample) in the soft term, for a student whose head spans "
                        "another range than the teacher's")
    p.add_argument("--shift", type=int,
                   help="images: move each training image by a random -N..N pixels per axis "
                        f"(augmentation; default: {C.shift}, or the preset's)")
    add_scale_arguments(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int | None:
    launched = common.launch_if_asked(args)
    if launched is not None:
        return launched
    from lutnn import distributed
    from lutnn.presets import Preset, get_preset
    from lutnn.train import TrainConfig, train

    preset = get_preset(args.preset) if args.preset else Preset(args.model)
    model = args.model or preset.model
    if model is None:
        raise LutnnError("lutnn train needs --model NAME or --preset NAME")
    if args.preset and args.model and args.model != preset.model:
        raise LutnnError(f"preset {args.preset!r} is a {preset.model} recipe, not {args.model}")
    overrides = {**preset.config, **common.load_overrides(args.config)}
    given = {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "val_size": args.val_size, "teacher": args.teacher, "kd_alpha": args.kd_alpha,
        "kd_temperature": args.kd_temperature, "kd_standardize": args.kd_standardize,
        "shift": args.shift,
    }
    settings = {**preset.train, **{k: v for k, v in given.items() if v is not None}}
    if settings.get("teacher") is None:
        kd = [flag for flag, value in (("--kd-alpha", args.kd_alpha),
                                       ("--kd-temperature", args.kd_temperature),
                                       ("--kd-standardize", args.kd_standardize))
              if value is not None]
        if kd:
            raise LutnnError(f"{' and '.join(kd)} weigh a teacher's soft targets, and no "
                             "--teacher is given; add --teacher RUN or drop them")
    train_cfg = TrainConfig(seed=args.seed, **settings)
    metrics = train(
        model, args.out, model_overrides=overrides, train_cfg=train_cfg,
        data=args.data, resume=args.resume, label=args.label, device=args.device,
        test_data=args.test_data,
    )
    if distributed.is_main():
        print(
            f"{model}: val {metrics['val_accuracy']:.4f}, test {metrics['test_accuracy']:.4f}, "
            f"{metrics['epochs']} epochs, {metrics['seconds']:.0f} s "
            f"-> {Path(args.out) / 'metrics.json'}"
        )
    return None

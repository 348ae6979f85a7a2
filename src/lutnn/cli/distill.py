"""``lutnn distill``: a teacher run into a LUT-Net student run."""

from __future__ import annotations

import argparse
from pathlib import Path

import lutnn.cli.common as common
from lutnn.cli.common import (
    add_scale_arguments,
    default,
    non_negative_int,
    positive_float,
    positive_int,
    seed,
)


def add_parser(sub) -> None:
    from lutnn.distill import DistillConfig as C
    from lutnn.distill.config import METHODS, SCOPES, TARGETS
    from lutnn.distill.fit import UNSEEN_RULES
    from lutnn.student import FIRST_STAGE_WIRINGS

    p = sub.add_parser("distill", help="distill a teacher run into a LUT-Net student run")
    p.add_argument("--teacher", required=True, help="run folder of the teacher to distill")
    p.add_argument("--out", required=True, help="run folder to write the student to")
    p.add_argument("--wiring", choices=FIRST_STAGE_WIRINGS,
                   help=f"first-stage LUT wiring {default(C, 'wiring')}")
    p.add_argument("--method", choices=METHODS, help="fit: closed form; train: local "
                   f"gradient; fit+train {default(C, 'method')}")
    p.add_argument("--target", choices=TARGETS,
                   help=f"first-stage target of the fit {default(C, 'target')}")
    p.add_argument("--unseen", choices=UNSEEN_RULES, help="table entry of addresses no sample "
                   f"hits {default(C, 'unseen')}")
    p.add_argument("--k", type=positive_int,
                   help=f"inputs per first-stage LUT {default(C, 'k')}")
    p.add_argument("--tree", type=positive_int, nargs="*",
                   help="LUTs per neuron in each stage before the last "
                        f"{default(C, 'tree', ' '.join(map(str, C.tree)))}")
    p.add_argument("--local-epochs", type=non_negative_int, help="local training epochs per "
                   f"block for --method train {default(C, 'local_epochs')}")
    p.add_argument("--samples", type=non_negative_int, help="training samples to distill on "
                   f"{default(C, 'samples', f'{C.samples} = all')}")
    p.add_argument("--conv-positions", type=non_negative_int,
                   help="positions per image to fit a convolution on "
                        f"{default(C, 'conv_positions', f'{C.conv_positions}; 0 = all')}")
    p.add_argument("--memory-budget", type=positive_int, metavar="MB",
                   help="resident memory budget of the process in MiB "
                        f"{default(C, 'memory_budget_mb')}")
    p.add_argument("--finetune-epochs", type=non_negative_int, help="end-to-end fine-tuning "
                   f"epochs after distillation {default(C, 'finetune_epochs')}")
    p.add_argument("--finetune-lr", type=positive_float,
                   help=f"fine-tuning learning rate {default(C, 'finetune_lr')}")
    p.add_argument("--finetune-scope", choices=SCOPES, help="fine-tune all tables or only the "
                   f"last block's {default(C, 'finetune_scope')}")
    p.add_argument("--finetune-shift", type=non_negative_int, help="fine-tuning images moved "
                   f"by up to +-N pixels {default(C, 'finetune_shift')}")
    p.add_argument("--finetune-kd-alpha", type=common.number(
        float, low=0, high=1, expected="a number in [0, 1]"), help="weight of the teacher's "
        f"soft class scores in fine-tuning {default(C, 'finetune_kd_alpha', '0 = labels only')}")
    p.add_argument("--finetune-kd-temperature", type=positive_float, help="softmax "
                   f"temperature of KD fine-tuning {default(C, 'finetune_kd_temperature')}")
    p.add_argument("--finetune-table-scale", type=positive_float, help="fitted tables times "
                   "this before fine-tuning, in (0, 1]: entries decided at +-1 keep a gradient "
                   f"{default(C, 'finetune_table_scale')}")
    p.add_argument("--data", help="dataset (default: the teacher's)")
    p.add_argument("--seed", type=seed, default=C.seed, help=f"random seed {default(C, 'seed')}")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    add_scale_arguments(p)
    p.set_defaults(func=cmd_distill)


def _teacher_preset_defaults(teacher: Path) -> dict:
    """The DistillConfig defaults of the teacher's preset ({} for a run without one, or a
    folder distill will refuse with its own message)."""
    from lutnn import io
    from lutnn.presets import distill_defaults

    record_file = teacher / "run.json"
    if not record_file.is_file():
        return {}
    record = io.read_json(record_file, "run record")
    defaults = distill_defaults(record) if isinstance(record, dict) else {}
    if "tree" in defaults:
        defaults["tree"] = tuple(defaults["tree"])
    return defaults


def cmd_distill(args: argparse.Namespace) -> int | None:
    launched = common.launch_if_asked(args)
    if launched is not None:
        return launched
    from lutnn import distributed
    from lutnn.distill import DistillConfig, distill

    fields = {
        "k": args.k, "tree": tuple(args.tree) if args.tree is not None else None,
        "wiring": args.wiring, "method": args.method, "target": args.target,
        "unseen": args.unseen, "local_epochs": args.local_epochs, "samples": args.samples,
        "conv_positions": args.conv_positions, "finetune_epochs": args.finetune_epochs,
        "finetune_lr": args.finetune_lr, "finetune_scope": args.finetune_scope,
        "finetune_shift": args.finetune_shift, "finetune_kd_alpha": args.finetune_kd_alpha,
        "finetune_kd_temperature": args.finetune_kd_temperature,
        "finetune_table_scale": args.finetune_table_scale,
        "memory_budget_mb": args.memory_budget, "seed": args.seed,
    }
    # the teacher's preset (if it was trained with one) sets the defaults; flags override
    preset = _teacher_preset_defaults(Path(args.teacher))
    cfg = DistillConfig(**{**preset, **{k: v for k, v in fields.items() if v is not None}})
    metrics = distill(args.teacher, args.out, cfg, data=args.data, resume=args.resume,
                      device=args.device)
    if distributed.is_main():
        print(
            f"distilled {metrics['teacher_model']}: test {metrics['test_accuracy']:.4f} "
            f"(teacher {metrics['teacher_test_accuracy']:.4f}, before fine-tuning "
            f"{metrics['test_accuracy_before_finetune']:.4f}), {metrics['luts']} LUTs, "
            f"{metrics['seconds']:.0f} s, peak {metrics['peak_memory_mb']:.0f} MB "
            f"-> {Path(args.out) / 'metrics.json'}"
        )
    return None

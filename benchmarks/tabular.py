"""Tabular data: LUT-Nets and XNOR teachers on scikit-learn's bundled real data sets.

For breast cancer (30 features, 2 classes), wine (13, 3) and digits (64, 10): a stratified
75/25 train/test split (seed 0) written as a table ``.npz``; a ``lut-mlp`` and a ``teacher-mlp``
(XNOR-Net) with a distributive thermometer (thresholds at training-set quantiles on 8-bit
fixed-point features) are trained, exported, simulated (PyTorch == IR simulator == RTL on every
test row) and synthesized with Yosys ``synth_xilinx`` (LUTs with and without the encoder, FFs,
levels); beside them a scikit-learn logistic regression and gradient boosting on the same split
(trained on the whole training split; the nets hold ``VAL`` rows of it out for model selection).

    .venv/bin/python benchmarks/tabular.py            # all three (a few minutes)
    .venv/bin/python benchmarks/tabular.py --quick    # breast cancer only, fewer epochs

Needs scikit-learn (``pip install 'lutnn[test]'``), Yosys and an RTL simulator
(``make setup``).  Prints a table and writes benchmarks/results/tabular.json
(``--quick``: tabular_quick.json).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from lutnn.io import write_json

RESULTS = Path(__file__).resolve().parent / "results"
VAL = 0.15  # of the training split, held out for model selection
LEVELS = 8  # thresholds per feature
WIDTH = 8  # fixed-point bits per feature

# data set -> (lut-mlp layers, lut tau, teacher hidden, teacher group size)
SETS = {
    "breast_cancer": ([200, 100], 1.67, [32], 10),
    "wine": ([150, 90], 1.0, [32], 10),
    "digits": ([600, 300], 1.0, [64], 10),
}


def write_table(name: str, folder: Path) -> tuple[Path, dict]:
    """The data set's stratified split as a table .npz, and the arrays."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    bunch = getattr(datasets, f"load_{name}")()
    x_tr, x_te, y_tr, y_te = train_test_split(bunch.data, bunch.target, test_size=0.25,
                                              random_state=0, stratify=bunch.target)
    arrays = {"x_train": x_tr.astype(np.float32), "y_train": y_tr.astype(np.int64),
              "x_test": x_te.astype(np.float32), "y_test": y_te.astype(np.int64),
              "class_names": np.array([str(c) for c in bunch.target_names])}
    if getattr(bunch, "feature_names", None) is not None:
        arrays["feature_names"] = np.array([str(f) for f in bunch.feature_names])
    path = folder / f"{name}.npz"
    np.savez(path, **arrays)
    return path, arrays


def references(arrays: dict) -> dict:
    """Test accuracy of scikit-learn's logistic regression and gradient boosting."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = {}
    for key, model in (
        ("logistic_regression", make_pipeline(StandardScaler(),
                                              LogisticRegression(max_iter=5000))),
        ("gradient_boosting", GradientBoostingClassifier(random_state=0)),
    ):
        model.fit(arrays["x_train"], arrays["y_train"])
        out[key] = float((model.predict(arrays["x_test"]) == arrays["y_test"]).mean())
    return out


def run_net(model: str, overrides: dict, data: Path, run: Path, epochs: int, val: int,
            lr: float | None) -> dict:
    """Train, export, simulate (PyTorch == IR == RTL, every test row), synthesize."""
    from lutnn.pipeline import export_run, simulate_run, synth_run
    from lutnn.train import TrainConfig, train

    t0 = time.perf_counter()
    cfg = TrainConfig(epochs=epochs, batch_size=32, val_size=val, lr=lr, eval_batch_size=500)
    metrics = train(model, run, model_overrides=overrides, train_cfg=cfg, data=str(data),
                    log=lambda _: None)
    exported = export_run(run)
    n_test = int(np.load(data)["y_test"].shape[0])
    sim = simulate_run(run, rtl=True, vectors=n_test)
    synth = synth_run(run)
    return {
        "model": model, "config": overrides, "epochs": epochs,
        "val_accuracy": metrics["val_accuracy"], "test_accuracy": sim["accuracy"],
        "torch_test_accuracy": sim["torch_accuracy"], "rtl_accuracy": sim["rtl_accuracy"],
        "test_rows": sim["vectors"], "mismatches": sim["mismatches"],
        "rtl_mismatches": sim["rtl_mismatches"], "rtl_simulator": sim["simulator"],
        "encoder_bits": exported["summary"]["totals"]["comparators"],
        "lut_nodes": exported["lut_nodes_after"],
        "luts": synth["luts"], "luts_without_encoder": synth.get("luts_without_encoder"),
        "ffs": synth["ffs"], "levels": synth["levels"], "latency_cycles": synth["latency"],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="breast cancer only, fewer epochs")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 60)")
    parser.add_argument("--out", type=Path, default=None, help="results JSON")
    args = parser.parse_args(argv)
    from lutnn.hdl import tool_version

    epochs = args.epochs or (10 if args.quick else 60)
    names = ["breast_cancer"] if args.quick else list(SETS)
    out = args.out or RESULTS / ("tabular_quick.json" if args.quick else "tabular.json")
    rows = []
    with tempfile.TemporaryDirectory(prefix="lutnn-tabular-") as tmp:
        for name in names:
            layers, tau, hidden, group = SETS[name]
            data, arrays = write_table(name, Path(tmp))
            val = int(round(len(arrays["y_train"]) * VAL))
            entry = {"data_set": name, "features": int(arrays["x_train"].shape[1]),
                     "classes": int(len(arrays["class_names"])),
                     "train_rows": int(len(arrays["y_train"])) - val, "val_rows": val,
                     "test_rows": int(len(arrays["y_test"])), "reference": references(arrays)}
            encoder = {"encoder": "distributive", "levels": LEVELS, "width": WIDTH}
            entry["lut_mlp"] = run_net(
                "lut-mlp", {**encoder, "layers": layers, "k": 6, "tau": tau}, data,
                Path(tmp) / f"{name}-lut", epochs, val, None)
            entry["xnor_teacher"] = run_net(
                "teacher-mlp", {**encoder, "hidden": hidden, "group_size": group,
                                "tau": group / 10}, data, Path(tmp) / f"{name}-teacher",
                epochs, val, 3e-3)
            rows.append(entry)
            print_row(entry)
    result = {
        "benchmark": "tabular", "quick": args.quick,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "yosys": tool_version("yosys")},
        "split": "stratified 75/25 (sklearn train_test_split, random_state=0); "
                 f"{VAL:.0%} of the training split held out for model selection",
        "encoder": f"distributive thermometer, {LEVELS} thresholds per feature on {WIDTH}-bit "
                   "fixed point (offset = training min, scale = 255 / training range)",
        "data_sets": rows,
    }
    write_json(out, result)
    print(f"-> {out}")
    return 0


def print_row(e: dict) -> None:
    ref = e["reference"]
    print(f"{e['data_set']}: {e['features']} features, {e['classes']} classes, "
          f"{e['test_rows']} test rows; logistic regression {ref['logistic_regression']:.4f}, "
          f"gradient boosting {ref['gradient_boosting']:.4f}")
    for key in ("lut_mlp", "xnor_teacher"):
        r = e[key]
        print(f"  {key:<13} test {r['test_accuracy']:.4f}  LUTs {r['luts']} "
              f"({r['luts_without_encoder']} without encoder)  FFs {r['ffs']}  "
              f"levels {r['levels']}  RTL mismatches {r['rtl_mismatches']}/{r['test_rows']} "
              f"({r['seconds']:.0f} s)")


if __name__ == "__main__":
    raise SystemExit(main())

"""Bring your own binarized network, end to end (issue 24 item 6): the Brevitas LFC and CNV
of ``examples/brevitas_nets.py``, trained briefly on MNIST, imported (the LFC from its module,
the CNV from its own QONNX export), distilled, exported, simulated (RTL == simulator ==
PyTorch) and synthesized; the original as an XNOR-Net beside its LUT student.

Each step skips what its folder already holds; the table is printed and written to
``benchmarks/results/import_brevitas.json``::

    python benchmarks/import_brevitas.py --data /path/to/mnist --out runs/byo

The commands it runs are the README's: ``python examples/brevitas_nets.py``, ``lutnn import``,
``lutnn distill --tree 36 6``, ``lutnn export`` (``--conv stream`` for the CNV),
``lutnn sim --rtl``, ``lutnn synth``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str], log: list[dict]) -> None:
    t0 = time.perf_counter()
    print("$", " ".join(args), flush=True)
    subprocess.run(args, check=True, cwd=REPO)
    log.append({"command": " ".join(args), "seconds": round(time.perf_counter() - t0, 1)})


def _lutnn(*args: str) -> list[str]:
    return [sys.executable, "-m", "lutnn", *args]


def _row(run: Path, label: str, conv: str) -> dict:
    from lutnn.report import network_entry

    e = network_entry(run, conv=conv)
    keep = ("test_accuracy", "rtl_vectors", "mismatches", "luts", "ffs", "lut_nodes",
            "latency", "cycles_per_image")
    return {"network": label, "run": str(run), "conv": conv, **{k: e.get(k) for k in keep}}


def main() -> None:
    from lutnn.runfolder import result_file

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="MNIST folder")
    p.add_argument("--out", default="runs/byo")
    p.add_argument("--tree", default="36 6", help="the students' LUT trees (lutnn distill --tree)")
    p.add_argument("--vectors", type=int, default=200, help="RTL simulation vectors")
    args = p.parse_args()
    out, log = Path(args.out).resolve(), []
    if not (out / "cnv.onnx").is_file():
        _run([sys.executable, "examples/brevitas_nets.py", "--data", args.data, "--out",
              str(out)], log)
    sources = {"lfc": ["examples.brevitas_nets:lfc", "--weights", str(out / "lfc.pt")],
               "cnv": [str(out / "cnv.onnx")]}
    # fine-tuning stays near a minute on one core: the CNV student's convolutions are slower
    distill = {"lfc": ["--samples", "20000", "--finetune-epochs", "5"],
               "cnv": ["--samples", "10000", "--finetune-epochs", "1"]}
    rows = []
    for name, conv in (("lfc", "unrolled"), ("cnv", "stream")):
        teacher, student = out / f"{name}-teacher", out / f"{name}-student"
        if not (teacher / "import.json").is_file():
            _run(_lutnn("import", *sources[name], "--data", args.data, "--out", str(teacher),
                        "--input-range=-1,1"), log)
        if not (student / "metrics.json").is_file():
            _run(_lutnn("distill", "--teacher", str(teacher), "--out", str(student),
                        "--tree", *args.tree.split(), *distill[name]), log)
        for run in (teacher, student):
            if (run / result_file("synth", conv)).is_file():
                continue  # exported, simulated and synthesized before
            form = ["--conv", "stream"] if conv == "stream" else []
            _run(_lutnn("export", str(run), *form), log)
            _run(_lutnn("sim", str(run), "--rtl", "--vectors", str(args.vectors)), log)
            _run(_lutnn("synth", str(run), "--whole-only"), log)
        rows += [_row(teacher, f"{name} (Brevitas, as XNOR-Net)", conv),
                 _row(student, f"{name} LUT student", conv)]
    for r in rows:
        print(json.dumps(r))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "import_brevitas.json").write_text(json.dumps({"rows": rows, "log": log},
                                                             indent=2) + "\n")


if __name__ == "__main__":
    main()

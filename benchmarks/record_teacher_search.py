"""Append finished teacher-search runs to benchmarks/results/teacher_search.json.

    python benchmarks/record_teacher_search.py RUN_DIR "what changed" [--threads N] [--note TEXT]

Each run is ``lutnn train --preset mobilenet-large --config V.json --epochs E --out RUN_DIR``;
the row keeps the config, validation per epoch, the chosen model's validation and test
accuracy and the seconds (as measured: the threads and the machine's load are in the note).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lutnn.io import write_json

RESULTS = Path(__file__).parent / "results" / "teacher_search.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("change")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    record = json.loads((args.run / "run.json").read_text())
    metrics = json.loads((args.run / "metrics.json").read_text())
    history = metrics["history"]
    row = {
        "run": args.run.name, "change": args.change, "model": record["model"],
        "config": record["config"], "train": record["train"],
        "epochs": metrics["epochs"], "val_accuracy": metrics["val_accuracy"],
        "test_accuracy": metrics["test_accuracy"], "seconds": metrics["seconds"],
        "seconds_per_epoch": round(metrics["seconds"] / max(len(history), 1), 1),
        "val_per_epoch": [h["val_accuracy"] for h in history],
        "threads": args.threads, "note": args.note,
    }
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {
        "what": "teacher recipes toward issue 25's >= 99.2% MNIST teacher in <= 15 minutes",
        "runs": []}
    doc["runs"] = [r for r in doc["runs"] if r["run"] != row["run"]] + [row]
    write_json(RESULTS, doc)
    print(f"{row['run']}: val {row['val_accuracy']:.4f} test {row['test_accuracy']:.4f} "
          f"{row['seconds']:.0f} s ({row['seconds_per_epoch']} s/epoch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

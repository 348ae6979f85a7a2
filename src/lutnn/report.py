"""``lutnn report``: a Markdown report with PNG plots from run folders and their JSON files.

The report reads only what the pipeline wrote (``metrics.json``, ``sim.json``,
``synth.json``, ``hdl/export.json``), so every number in ``report.md`` is one that a JSON file
beside it holds; ``summary.json`` collects them per network.  A result file made from other
weights than the run's ``model.pt`` holds now (its ``model_sha256``, or none recorded) is
stale: its numbers are left out, the network's row is marked, and a line under the table
names the file and the command that makes it again (``stale`` in ``summary.json``).
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

from lutnn import io
from lutnn.errors import LutnnError
from lutnn.runfolder import model_fingerprint, result_file, same_weights

LUT_COUNT_NOTE = (
    "LUTs: Yosys `synth_xilinx` (xc7 LUT1..LUT6 cells), post-synthesis, in both conventions: "
    "*whole design* (input encoder comparators, network, class popcounts and argmax, "
    "pipeline registers included; lutnn's) and *encoder excluded* (the same design "
    "synthesized without its input encoder: the peers' convention, e.g. DWN's xcvu9p figures)."
)


def published_anchors() -> list[dict]:
    """Peers' published MNIST points (see the file's ``source`` field)."""
    text = resources.files("lutnn.data").joinpath("anchors.json").read_text()
    return json.loads(text)["mnist"]


def _read(path: Path) -> dict:
    """A run's JSON file as a dict ({} when absent); malformed or not an object: LutnnError."""
    if not path.is_file():
        return {}
    obj = io.read_json(path, path.name)
    if not isinstance(obj, dict):
        raise LutnnError(f"{path} must hold a JSON object, not a {type(obj).__name__}; "
                         "fix or delete it (rerun the step that writes it)")
    return obj


def find_runs(folder: Path) -> list[Path]:
    """``folder`` itself if it is a run folder, else its run-folder children, sorted."""
    if not folder.is_dir():
        raise LutnnError(f"{folder} is not a folder (a run folder or a folder of run folders)")
    if (folder / "run.json").is_file():
        return [folder]
    # a folder without weights is an unfinished or failed run, not a network to list
    runs = sorted(p.parent for p in folder.glob("*/run.json") if (p.parent / "model.pt").is_file())
    if not runs:
        raise LutnnError(f"{folder} holds no run folders (no run.json); train or run the demo "
                         "first")
    return runs


def network_entries(run: Path) -> list[dict]:
    """The run's unrolled form, and its streaming form when it was simulated or synthesized
    (``lutnn export --conv stream`` then ``sim --rtl`` / ``synth``): one entry each; a run
    measured only as a stream has only its stream entry."""
    def measured(conv: str) -> bool:
        return any((run / result_file(kind, conv, target)).is_file()
                   for kind, target in (("sim", "xilinx"), ("synth", "xilinx"), ("synth", "ecp5")))

    stream = measured("stream")
    entries = [network_entry(run)] if measured("unrolled") or not stream else []
    if stream:
        entries.append(network_entry(run, conv="stream"))
    return entries


def _current_results(run: Path, names: list[str]) -> tuple[list[dict], list[str]]:
    """The result files ``names`` of ``run`` (``{}`` when absent), those made from other
    weights than ``model.pt`` holds now replaced by ``{}``; and the stale files' names."""
    fingerprint = model_fingerprint(run)
    results, stale = [], []
    for name in names:
        result = _read(run / name)
        if result and (fingerprint is None or not same_weights(
                result.get("model_sha256"), run / "model.pt", fingerprint)):
            stale.append(name)
            result = {}
        results.append(result)
    return results, stale


def network_entry(run: Path, conv: str = "unrolled") -> dict:
    """One network's numbers in one Verilog form (``conv``: "unrolled" or "stream"), gathered
    from the run folder's JSON files (:func:`lutnn.runfolder.result_file` names them); result
    files of other weights are left out and listed in ``stale``."""
    metrics = _read(run / "metrics.json")
    (sim, synth, ecp5), stale = _current_results(run, [
        result_file("sim", conv), result_file("synth", conv),
        result_file("synth", conv, "ecp5")])  # ecp5: `lutnn synth --target ecp5`
    if conv == "stream" and not sim.get("rtl_accuracy"):
        sim = {}  # the stream's own RTL run, or nothing
    record = _read(run / "run.json")
    model = record.get("model", "?")
    kind = "LUT-Net" if model.startswith("lut") or "luts" in metrics else "XNOR-Net"
    return {
        "name": run.name,
        "model": model,
        "conv": conv,
        "cycles_per_image": synth.get("cycles_per_image", ecp5.get("cycles_per_image")),
        "line_buffer_bits": synth.get("line_buffer_bits", ecp5.get("line_buffer_bits")),
        "kind": kind,
        "test_accuracy": metrics.get("test_accuracy"),
        "teacher_test_accuracy": metrics.get("teacher_test_accuracy"),
        "lut_nodes": metrics.get("luts"),
        "sim_accuracy": sim.get("accuracy"),
        "rtl_accuracy": sim.get("rtl_accuracy"),
        "rtl_vectors": sim.get("vectors"),
        "mismatches": sim.get("mismatches"),
        "luts": synth.get("luts"),
        "luts_encoder_excluded": synth.get("luts_encoder_excluded",
                                           synth.get("luts_without_encoder")),
        "ffs": synth.get("ffs"),
        "levels": synth.get("levels"),
        "latency": synth.get("latency", ecp5.get("latency")),
        "pipeline": synth.get("pipeline", ecp5.get("pipeline")),
        "ecp5_luts": ecp5.get("luts"),
        "fmax_mhz": ecp5.get("fmax_mhz"),
        "ecp5_latency": ecp5.get("latency"),
        "latency_ns": ecp5.get("latency_ns"),
        "ecp5_device": ecp5.get("device"),
        "synth_seconds": synth.get("seconds"),
        "tool": synth.get("tool"),
        "train_seconds": metrics.get("seconds"),
        "layers": metrics.get("layers"),
        "stale": stale,
    }


def stale_lines(entries: list[dict], runs: list[Path]) -> list[str]:
    """Lines under the table naming each stale result file and the command that makes it
    again for the weights the run holds now."""
    folders = {run.name: run for run in runs}
    lines = []
    for e in entries:
        for name in e["stale"]:
            command = ("lutnn sim --rtl" if name.startswith("sim-stream") else "lutnn sim"
                       if name.startswith("sim") else "lutnn synth --target ecp5"
                       if "ecp5" in name else "lutnn synth")
            lines += ["", f"\\* {e['name']}: `{name}` was made from other weights than "
                      f"`model.pt` holds now (retrained since?), so its numbers are left out; "
                      f"run `{command} {folders[e['name']]}` again."]
    return lines


def side_by_side(entries: list[dict]) -> list[str]:
    """Report lines comparing a network's streaming form with its unrolled one (both
    synthesized): LUTs, FFs, line-buffer bits, clocks per image."""
    lines = []
    unrolled = {e["name"]: e for e in entries if e["conv"] == "unrolled"}
    for s in entries:
        u = unrolled.get(s["name"]) if s["conv"] == "stream" else None
        if u is None or not s["luts"] or not u["luts"]:
            continue
        lines += ["", f"{s['name']}: the stream (one pixel per clock, "
                  f"{_fmt(s['cycles_per_image'])} clocks per image, "
                  f"{_fmt(s['line_buffer_bits'])} line-buffer bits) takes {s['luts']} LUTs and "
                  f"{s['ffs']} FFs; unrolled (one image per clock) {u['luts']} LUTs and "
                  f"{u['ffs']} FFs: {u['luts'] / s['luts']:.1f}x the LUTs."]
    return lines


def images_per_second(entry: dict) -> float | None:
    """A stream's throughput at its ECP5 post-route Fmax: one image per ``cycles_per_image``
    clocks (one pixel per clock, the padding included); None without both numbers."""
    if not entry.get("fmax_mhz") or not entry.get("cycles_per_image"):
        return None
    return entry["fmax_mhz"] * 1e6 / entry["cycles_per_image"]


def headline(entries: list[dict], runs: list[Path]) -> list[str]:
    """What the folder shows, first: each distilled LUT student beside the teacher it was
    distilled from (when that teacher's run is in the folder), in the same Verilog form, with
    accuracy, LUTs, FFs, line buffers, Fmax, images/s and the teacher/student LUT ratio."""
    by_key = {(e["name"], e["conv"]): e for e in entries}
    names = {run.resolve(): run.name for run in runs}
    lines: list[str] = []
    for run in runs:
        teacher = _read(run / "run.json").get("teacher")
        teacher_name = names.get(Path(teacher).resolve()) if teacher else None
        if teacher_name is None:
            continue
        for conv in ("stream", "unrolled"):
            s, t = by_key.get((run.name, conv)), by_key.get((teacher_name, conv))
            if s and t and s["luts"] and t["luts"]:
                break
        else:
            continue
        rows = [("teacher (XNOR-Net)", t), ("distilled student (LUT-Net)", s)]
        lines += ["## What this run shows", "",
                  f"The teacher `{teacher_name}` and the LUT-Net distilled from it "
                  f"(`{run.name}`), both as {conv} Verilog:", "",
                  "| network | test acc. | RTL == simulator (vectors) | LUTs | FFs "
                  "| line-buffer bits | clocks / image | ECP5 Fmax (MHz) | images/s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for label, e in rows:
            ips = images_per_second(e)
            lines.append(
                f"| {label} | {_fmt(e['test_accuracy'], '%')} | "
                f"{'yes' if e['mismatches'] == 0 else _fmt(e['mismatches'])} "
                f"({_fmt(e['rtl_vectors'])}) | {_fmt(e['luts'])} | {_fmt(e['ffs'])} "
                f"| {_fmt(e['line_buffer_bits'])} | {_fmt(e['cycles_per_image'])} "
                f"| {_fmt(e['fmax_mhz'], '.0f')} | {_fmt(ips, ',.0f')} |")
        gain = 100 * (s["test_accuracy"] - t["test_accuracy"])
        lines += ["", f"The student has {t['luts'] / s['luts']:.1f}x fewer LUTs than its "
                  f"teacher as an XNOR-Net, at {gain:+.2f} accuracy points.", ""]
    return lines


def _fmt(value, spec: str = "") -> str:
    if value is None:
        return "–"
    if spec == "%":
        return f"{100 * value:.2f}%"
    return f"{value:{spec}}" if spec else str(value)


def plot_accuracy_vs_luts(entries: list[dict], path: Path) -> None:
    """Accuracy vs LUTs (log x) of ``entries`` (``name``, ``kind``, ``luts``,
    ``test_accuracy``, ``rtl_accuracy`` or None) beside the peers' published points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    draw_accuracy_vs_luts(ax, entries)
    ax.set_title("Accuracy vs LUTs: lutnn (yosys synth_xilinx) and published peers")
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


#: marker of a published point by its counting convention (anchors.json ``convention``)
PEER_MARKERS = {"encoder excluded": "s", "whole design": "D"}


def draw_accuracy_vs_luts(ax, entries: list[dict], convention: str | None = None) -> None:
    """Draw ``entries`` (as :func:`plot_accuracy_vs_luts`) and the peers' published points
    on ``ax``: those counted in ``convention`` ("encoder excluded" / "whole design"), or all
    of them (None, markers by convention: squares encoder excluded, diamonds whole)."""
    # Peers' published points; far-off ones (a short CPU run measured here) would only squash
    # the axis, so the plot keeps points of 85% and up.
    peers = sorted((p for p in published_anchors() if p["accuracy"] >= 0.85 and (
        convention is None or p.get("convention", "encoder excluded") == convention)),
        key=lambda p: p["luts"])
    for conv, marker in PEER_MARKERS.items():
        mine = [p for p in peers if p.get("convention", "encoder excluded") == conv]
        if mine:
            ax.scatter([p["luts"] for p in mine], [100 * p["accuracy"] for p in mine],
                       marker=marker, color="0.6",
                       label=f"published, {conv} (other tools, mostly Vivado)")

    def near(p: dict) -> list[dict]:
        return [q for q in peers if q is not p and abs(math.log10(q["luts"] / p["luts"])) < 0.16]

    # A label goes below its point when a close neighbour sits above it; close labels on the
    # same side are stacked so they do not overlap.
    below = {id(p): any(q["accuracy"] > p["accuracy"] or (q["accuracy"] == p["accuracy"]
                                                          and q["luts"] < p["luts"])
                        for q in near(p)) for p in peers}
    for p in peers:
        rank = sum(1 for q in near(p) if below[id(q)] == below[id(p)] and q["luts"] < p["luts"])
        dy = -11 - 9 * rank if below[id(p)] else 6 + 9 * rank
        ax.annotate(p["system"], (p["luts"], 100 * p["accuracy"]), fontsize=7, color="0.35",
                    xytext=(0, dy), textcoords="offset points", ha="center")
    colors = {"XNOR-Net": "tab:blue", "LUT-Net": "tab:red"}
    for e in entries:
        acc = e["rtl_accuracy"] if e["rtl_accuracy"] is not None else e["test_accuracy"]
        if e["luts"] is None or acc is None:
            continue
        ax.scatter([e["luts"]], [100 * acc], s=70, color=colors[e["kind"]], zorder=3,
                   label=f"lutnn {e['kind']} ({e['name']}, yosys)")
        ax.annotate(e["name"], (e["luts"], 100 * acc), fontsize=8, xytext=(6, -12),
                    textcoords="offset points", color=colors[e["kind"]])
    ax.set_xscale("log")
    ax.set_xlabel("LUTs (log scale)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def _plot_agreement(entry: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = entry["layers"]
    names = [str(layer.get("name", i)) for i, layer in enumerate(layers)]
    agreement = [100 * layer["agreement"] for layer in layers]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(layers) + 2), 3.8), dpi=120)
    bars = ax.bar(names, agreement, color="tab:red")
    for bar, value, layer in zip(bars, agreement, layers, strict=True):
        label = f"{value:.1f}%"
        if layer.get("luts") is not None:
            label += f"\n{layer['luts']} LUTs"
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, value), ha="center",
                    va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_ylim(min(agreement + [90.0]) - 5, 101)
    ax.set_ylabel("bit agreement with teacher (%)")
    ax.set_title(f"Distillation ({entry['name']}):\nbit agreement with the teacher per layer "
                 "(validation data)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_report(folder: str | Path) -> dict:
    """Write ``report.md``, ``summary.json`` and PNG plots into ``folder``; returns the summary.

    A ``scaling.json`` in the folder (the demo's XNOR vs LUT6 sweep) adds the scaling plot.
    """
    folder = Path(folder)
    scaling = _read(folder / "scaling.json") or None
    runs = find_runs(folder)
    entries = [e for run in runs for e in network_entries(run)]
    summary = {"networks": entries, "lut_count": LUT_COUNT_NOTE}
    io.write_json(folder / "summary.json", summary)

    plots = []
    plot_accuracy_vs_luts(entries, folder / "accuracy_vs_luts.png")
    plots.append(("Accuracy vs LUTs", "accuracy_vs_luts.png"))
    for e in entries:
        if e["layers"]:
            name = f"agreement_{e['name']}.png"
            _plot_agreement(e, folder / name)
            plots.append((f"Distillation agreement per layer ({e['name']})", name))
    if scaling is not None:
        plot_scaling(scaling, folder / "scaling.png")
        plots.append(("XNOR vs LUT layer scaling", "scaling.png"))

    lines = ["# lutnn report", "", *headline(entries, runs), f"{LUT_COUNT_NOTE}", "",
             "| network | model | Verilog | test acc. (PyTorch) | simulator acc. "
             "| RTL acc. (vectors) | mismatches | LUTs (whole design) | LUTs (encoder excluded) "
             "| FFs | LUT levels | latency (cycles) | ECP5 LUT4s "
             "| ECP5 Fmax (MHz) | latency (ns) | synthesis s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in entries:
        mark = " \\*" if e["stale"] else ""
        lines.append(
            f"| {e['name']} ({e['kind']}){mark} | {e['model']} | {e['conv']} "
            f"| {_fmt(e['test_accuracy'], '%')} "
            f"| {_fmt(e['sim_accuracy'], '%')} | {_fmt(e['rtl_accuracy'], '%')} "
            f"({_fmt(e['rtl_vectors'])}) | {_fmt(e['mismatches'])} | {_fmt(e['luts'])} "
            f"| {_fmt(e['luts_encoder_excluded'])} | {_fmt(e['ffs'])} | {_fmt(e['levels'])} "
            f"| {_fmt(e['latency'])} "
            f"| {_fmt(e['ecp5_luts'])} | {_fmt(e['fmax_mhz'], '.0f')} "
            f"| {_fmt(e['latency_ns'], '.1f')} | {_fmt(e['synth_seconds'], '.1f')} |"
        )
    lines += stale_lines(entries, runs)
    lines += side_by_side(entries)
    for e in entries:
        if e["teacher_test_accuracy"] is not None and e["conv"] == "unrolled":
            lines += ["", f"{e['name']}: teacher test accuracy "
                      f"{_fmt(e['teacher_test_accuracy'], '%')}, student "
                      f"{_fmt(e['test_accuracy'], '%')} with {_fmt(e['lut_nodes'])} LUT nodes."]
    devices = sorted({e["ecp5_device"] for e in entries if e["ecp5_device"]})
    if devices:
        lines += ["", f"ECP5: `lutnn synth RUN --target ecp5` (synth_ecp5 + nextpnr-ecp5 on "
                  f"{', '.join(devices)}); latency (ns) = its cycles / the post-route Fmax "
                  "(the cycles of that export, which may differ from the Xilinx one's)."]
    lines += ["", "Published peers (their tools, their LUT-count conventions): "
              "see `accuracy_vs_luts.png` and lutnn's `anchors.json`.", ""]
    for title, name in plots:
        lines += [f"## {title}", "", f"![{title}]({name})", ""]
    io.write_text(folder / "report.md", "\n".join(lines))
    return summary


def plot_scaling(scaling: dict, path: str | Path) -> None:
    """Log-log plot of LUTs vs N per series, fitted power laws, and N log N / N^2 guides."""
    import matplotlib
    import matplotlib.ticker
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"xnor": "#c0392b", "lut6": "#2471a3"}
    fig, ax = plt.subplots(figsize=(7.5, 5.2), dpi=120)
    all_n = [p["n"] for s in scaling["series"].values() for p in s["points"]]
    if not all_n:
        raise LutnnError("scaling result has no points to plot")
    grid = np.geomspace(min(all_n), max(all_n), 50)
    for kind, series in scaling["series"].items():
        pts = series["points"]
        if not pts:
            continue
        ns, luts = [p["n"] for p in pts], [p["luts"] for p in pts]
        fit = series["fit"]
        label = series["label"] + (f": fit N^{fit['exponent']:.2f}" if fit else "")
        color = colors.get(kind)
        ax.plot(ns, luts, "o", color=color, label=label, zorder=3)
        if fit:
            span = np.geomspace(min(ns), max(ns), 20)
            ax.plot(span, fit["coefficient"] * span ** fit["exponent"], "-", color=color,
                    alpha=0.6)
        if kind == "xnor":  # guides through the widest XNOR point (least fixed overhead)
            n0, l0 = ns[-1], luts[-1]
            ax.plot(grid, l0 * (grid * np.log2(grid)) / (n0 * math.log2(n0)), ":", color="0.3",
                    label="guide: N log N (through the widest XNOR point)")
            ax.plot(grid, l0 * (grid / n0) ** 2, "--", color="0.55",
                    label="guide: N^2 (through the widest XNOR point)")
        for s in series["skipped"][:1]:
            ax.annotate(f"{kind} N={s['n']}: skipped", (s["n"], luts[-1]), fontsize=7,
                        color=color, xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_yscale("log")
    ax.set_xlabel("layer width N (neurons = inputs)")
    ax.set_ylabel("LUTs after synthesis (Yosys synth_xilinx, LUT1..LUT6)")
    ax.set_title("LUT cost of one layer vs width: fully connected XNOR vs LUT6")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)

"""Run-folder steps shared by the CLI and the demo: export, simulate, synthesize.

Each step reads a run folder (``run.json`` + ``model.pt``), writes its outputs atomically into
it, and returns the JSON it wrote:

* ``export_run``  -> ``RUN/hdl/`` (``netlist.json``/``.npz``, Verilog, testbench, Vivado and
  Quartus scripts: :mod:`lutnn.hdl.vendor`), the netlist pruned first (``RUN/hdl/unpruned/``
  keeps it as converted); with the QONNX format ``RUN/qonnx/`` (``export_qonnx_run``: an
  XNOR teacher as QONNX, checked with qonnx's executor against the simulator on test images)
* ``simulate_run`` -> ``RUN/sim.json`` (PyTorch eval vs IR simulator [vs RTL], bit-exact)
* ``synth_run``   -> ``RUN/synth.json`` (Yosys cell counts, levels, [nextpnr Fmax]; with an
  encoder, also ``luts_without_encoder``)
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lutnn import io
from lutnn.errors import LutnnError
from lutnn.ir.options import ExportOptions
from lutnn.runfolder import check_export_current, model_fingerprint, result_file

TOP = "lutnn_top"


def _hdl_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "hdl"


def converted_netlist(model, record: dict, *, stream: bool = False, meta: dict | None = None):
    """``model`` as a Netlist: the spatial form :func:`lutnn.frontend.to_ir` builds, as it is
    for a ``stream`` export, else after the declared ``lower_spatial`` pass (the flat form the
    unrolled export, prune and the flat simulators read)."""
    from lutnn.frontend import to_ir
    from lutnn.ir.passes.flow import LOWER_SPATIAL, run_flow

    netlist = to_ir(model, tuple(record["input_shape"]), spatial=True, meta=meta)
    return netlist if stream else run_flow(netlist, (LOWER_SPATIAL,))


def run_netlist(run_dir: str | Path):
    """The run's Netlist: from ``RUN/hdl`` if exported, else converted from the model (the
    flat form, :func:`converted_netlist`)."""
    from lutnn.ir.serialize import load_netlist
    from lutnn.train import load_run

    run_dir = Path(run_dir)
    if (_hdl_dir(run_dir) / "netlist.json").is_file():
        netlist = load_netlist(_hdl_dir(run_dir))
        check_export_current(run_dir, netlist.meta,  # not a netlist of older weights
                             _hdl_dir(run_dir) / "netlist.json")
        return netlist
    model, record = load_run(run_dir)
    return converted_netlist(model, record, meta={"model": record["model"]})


def exported_path(run_dir: str | Path, recorded: str) -> Path:
    """A file export.json names, inside *this* run folder.

    Paths are recorded relative to the run folder; a record from an older lutnn (relative to
    the working directory at export time) is read by its file name in ``RUN/hdl``, so a copied
    run never reads another folder's files.
    """
    path = Path(run_dir) / recorded
    return path if path.is_file() else _hdl_dir(Path(run_dir)) / Path(recorded).name


def _prune_for_export(netlist, out: Path, prune: bool, run_dir: Path):
    """The netlist export writes (pruned unless ``prune`` is False) and what to record of it:
    ``pruned``, ``lut_nodes_before`` / ``lut_nodes_after``, ``unpruned_netlist`` (the
    converted netlist, kept in ``RUN/hdl/unpruned``) and the pass's per-layer ``prune``
    report."""
    from lutnn.ir.passes import prune_with_report
    from lutnn.ir.serialize import save_netlist
    from lutnn.ir.summary import netlist_summary

    before = netlist_summary(netlist)["totals"].get("lut_nodes", 0)
    keep = out / "unpruned"
    if not prune:
        if keep.is_dir():  # a stale copy from an earlier, pruned export
            shutil.rmtree(keep)
        return netlist, {"pruned": False, "lut_nodes_before": before, "lut_nodes_after": before}
    save_netlist(netlist, keep)
    netlist, report = prune_with_report(netlist)
    return netlist, {"pruned": True, "lut_nodes_before": before,
                     "lut_nodes_after": report.lut_nodes_after,
                     "unpruned_netlist": (keep / "netlist.json").relative_to(run_dir).as_posix(),
                     "prune": report.as_dict()}


def export_run(run_dir: str | Path, *, pipeline: str | int = "layer",
               levels_per_stage: int | None = None, prune: bool = True,
               conv: str = "unrolled", argmax: str | None = None,
               options: ExportOptions | None = None) -> dict:
    """Convert the run's model to the IR and Verilog under ``RUN/hdl``; returns a summary.

    The keywords make an :class:`~lutnn.ir.options.ExportOptions` (validated before anything
    is written; or pass ``options``): ``pipeline``, ``levels_per_stage`` and ``argmax`` are
    :func:`lutnn.hdl.emit_verilog`'s (``argmax=None``: the pipeline's default); all are
    recorded in ``export.json`` (``sim --rtl`` and ``synth`` read the exported files).
    With ``prune`` (the default) the netlist is :func:`lutnn.ir.passes.prune`-d first: the
    pruned one is ``RUN/hdl/netlist.json`` (what ``sim`` and the Verilog use), the converted
    one ``RUN/hdl/unpruned/``, and ``export.json`` records both LUT node counts.

    ``conv="stream"``: the spatial netlist (as ``to_ir`` builds it, not pruned) as
    streaming Verilog (:class:`lutnn.hdl.backend.StreamBackend`: one pixel per clock, line
    buffers; ``pipeline`` is its dense tail's); ``export.json`` records ``conv``, the
    no-stall ``latency`` (first pixel to class), ``cycles_per_image`` and the line buffers.

    The steps: build the netlist, prune it (recorded), run the backend's flow, save the
    artifact and the Vivado / Quartus scripts for it (:mod:`lutnn.hdl.vendor`; recorded as
    ``vendor_scripts``), write the record."""
    from lutnn.hdl.backend import backend_for
    from lutnn.hdl.vendor import write_vendor_scripts
    from lutnn.ir.serialize import save_netlist
    from lutnn.ir.summary import netlist_summary
    from lutnn.train import load_run

    if options is None:  # checked before anything is written
        options = ExportOptions(form=conv, pipeline=pipeline, levels_per_stage=levels_per_stage,
                                argmax=argmax, prune=prune)
    if options.format == "qonnx":
        return export_qonnx_run(run_dir)
    run_dir = Path(run_dir)
    model, record = load_run(run_dir)
    fingerprint = model_fingerprint(run_dir)  # every derived file names the weights it is of
    netlist = converted_netlist(model, record, stream=options.stream,
                                meta={"model": record["model"], "model_sha256": fingerprint})
    out = _hdl_dir(run_dir)
    netlist, pruned = _prune_for_export(netlist, out, options.prune, run_dir)
    save_netlist(netlist, out)
    artifact = backend_for(options, top=TOP).emit(netlist, options)
    saved = artifact.save(out, footer=f"// made from model.pt sha256 {fingerprint} "
                                      "(a fingerprint of its weights)\n")
    scripts = write_vendor_scripts(out, TOP, [saved["verilog"]])  # Vivado, Quartus
    resolved = options.replace(levels_per_stage=saved.get("levels_per_stage"),
                               argmax=saved.get("argmax"))  # the bound and argmax it got
    summary = {  # paths relative to the run folder, so a copied or moved run stays whole
        "netlist": (out / "netlist.json").relative_to(run_dir).as_posix(),
        "verilog": saved["verilog"].relative_to(run_dir).as_posix(),
        "testbench": saved["testbench"].relative_to(run_dir).as_posix(),
        "latency": int(saved["latency"]),
        **{key: saved[key] for key in STREAM_KEYS if options.stream},
        **resolved.to_json(),
        "summary": netlist_summary(netlist),
        **pruned,
        "design": saved["design"],
        "vendor_scripts": {kind: path.relative_to(run_dir).as_posix()
                           for kind, path in scripts.items()},
        "model_sha256": fingerprint,
    }
    io.write_json(out / "export.json", summary)
    return summary


QONNX_CHECK_VECTORS = 100  # test images the QONNX export is checked on by default


def _refuse_real_weights(model, record: dict) -> None:
    """QONNX export is of XNOR teachers: a layer with real weights is refused, naming it."""
    from lutnn.nn import BinaryLinear

    for name, module in model.named_modules():
        if isinstance(module, BinaryLinear) and not module.binary_weights:
            raise LutnnError(
                f"layer {name} of this {record['model']} has real weights: QONNX export is of "
                "XNOR teachers (binary weights, e.g. teacher-mlp/cnn/mobilenet with "
                "binary_weights=True); retrain with binary weights (a LUT-Net has no QONNX "
                "form either: QONNX of a LUT network is out of scope)")


def export_qonnx_run(run_dir: str | Path, *, vectors: int | None = QONNX_CHECK_VECTORS) -> dict:
    """The run's XNOR teacher as QONNX in ``RUN/qonnx/model.onnx``
    (:class:`lutnn.qonnx.QONNXBackend`: input ``[1, *input_shape]`` raw values as float32,
    output the class popcounts ``scores``), checked first: qonnx's executor and lutnn's
    simulator on the first ``vectors`` test samples (None: all; 0: no check) must agree on
    every class, score and stage bit, else nothing is written.  ``RUN/qonnx/export.json``
    records the model, its tensors and the agreement.

    Raises:
        LutnnError: the interop extra is missing, real weights or LUT layers (no XNOR form),
            or a disagreement (a lutnn bug).
    """
    from lutnn.ir.summary import netlist_summary
    from lutnn.qonnx import QONNXBackend, require_interop
    from lutnn.qonnx.check import compare
    from lutnn.train import load_run

    require_interop()
    run_dir = Path(run_dir)
    model, record = load_run(run_dir)
    _refuse_real_weights(model, record)
    fingerprint = model_fingerprint(run_dir)
    netlist = converted_netlist(model, record, stream=True,
                                meta={"model": record["model"], "model_sha256": fingerprint})
    artifact = QONNXBackend(tuple(record["input_shape"])).emit(netlist)
    check = None
    if vectors != 0:
        x, _ = _test_split(record, vectors)
        check = compare(artifact.model.model.SerializeToString(), list(artifact.stages),
                        netlist, x)
        if not check.exact:
            raise LutnnError(f"the QONNX model disagrees with lutnn's simulator "
                             f"({check.as_dict()}): a lutnn bug, please report it; nothing "
                             "was written")
    out = run_dir / "qonnx"
    saved = artifact.save(out)
    summary = {"model": saved.pop("model").relative_to(run_dir).as_posix(), **saved,
               "checked": check.as_dict() if check else None,
               "summary": netlist_summary(netlist), "model_sha256": fingerprint}
    io.write_json(out / "export.json", summary)
    return summary


#: what a stream's export.json records of its design besides the latency
STREAM_KEYS = ("cycles_per_image", "tail_latency", "line_buffer_bits", "stages")


def _export_record(run_dir: Path) -> dict:
    """``RUN/hdl/export.json``, checked: an object naming the Verilog, of the current weights."""
    path = _hdl_dir(run_dir) / "export.json"
    exported = io.read_json(path, "export record")
    if not isinstance(exported, dict) or not isinstance(exported.get("verilog"), str) \
            or not isinstance(exported.get("latency"), int):
        raise LutnnError(f"{path} is not an export record (an object with 'verilog' and "
                         f"'latency'); run `lutnn export {run_dir}` again")
    check_export_current(run_dir, exported)
    return exported


def _exported_artifact(run_dir: Path, exported: dict):
    """The design export wrote, its text read from the file
    (:func:`lutnn.hdl.backend.load_artifact`; an older record without ``design`` is
    described by the run's netlist)."""
    from lutnn.hdl.backend import load_artifact

    netlist = None if "design" in exported else run_netlist(run_dir)
    return load_artifact(exported_path(run_dir, exported["verilog"]).parent, exported, netlist)


def _test_split(record: dict, vectors: int | None) -> tuple[np.ndarray, np.ndarray]:
    from lutnn.data import load_dataset
    from lutnn.data.datasets import recorded_data, recorded_test_data

    data = recorded_data(record)  # the data set trained on, wherever the command runs
    # The test split does not depend on the validation carve-out; any val_size will do.
    val_size = record.get("train", {}).get("val_size", 1)
    dataset = load_dataset(data, val_size=val_size, label=record.get("label"),
                           test_data=recorded_test_data(record))
    if list(dataset.input_shape) != list(record["input_shape"]):
        raise LutnnError(f"run.json's input_shape {record['input_shape']} is not the data's "
                         f"{list(dataset.input_shape)}; was run.json edited? retrain the run")
    n = len(dataset.x_test) if vectors is None else min(vectors, len(dataset.x_test))
    return dataset.x_test[:n], dataset.y_test[:n]


@contextlib.contextmanager
def _tool_safe_dir(workdir: Path) -> Iterator[Path]:
    """``workdir``, or a temporary folder when its absolute path holds a space or a non-ASCII
    character (GNU make, which Verilator uses, cannot build there; Icarus' ``$readmemh``
    garbles such names); the temporary folder is removed afterwards."""
    if _SAFE_PATH.fullmatch(str(workdir.resolve())):
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="lutnn-rtl-") as tmp:
        yield Path(tmp)


_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+=:,@%-]+")


AUTO_C_MAX_LINES = 400_000  # sim --backend auto compiles C up to this size (~1 min of -O3)


def _classify(netlist, x: np.ndarray, backend: str, threads: int) -> tuple[np.ndarray, dict]:
    """Classes from the compiled C (:mod:`lutnn.csrc`) or the numpy simulator: ``backend``
    "c", "numpy" or "auto" (C when a C compiler is found and the source is at most
    :data:`AUTO_C_MAX_LINES` lines, else numpy, with a note saying why); returns them and
    what ran (``backend``, ``threads``...)."""
    from lutnn.csrc.backend import CBackend
    from lutnn.sim.backend import NumpyBackend

    if backend not in ("auto", "c", "numpy"):
        raise LutnnError(f"backend must be auto, c or numpy, got {backend!r}")
    info: dict = {}
    if backend != "numpy":
        t0 = time.perf_counter()
        try:
            # 256 samples per word: ~2x the 64-bit speed (AVX2, or SSE2 pairs without it)
            compiled = CBackend(word=256).emit(netlist).compiled(
                threads, max_lines=AUTO_C_MAX_LINES if backend == "auto" else None)
        except LutnnError as e:
            if backend == "c":
                raise
            info["backend_note"] = f"numpy simulator used: {str(e).splitlines()[0]}"
        else:
            info["c_compile_seconds"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            classes = compiled.classify(x).astype(np.int64)
            info.update(backend="c", threads=threads, word=compiled.source.word,
                        sim_seconds=round(time.perf_counter() - t0, 3))
            return classes, info
    t0 = time.perf_counter()
    classes = NumpyBackend().emit(netlist).classify(x)
    info.update(backend="numpy", sim_seconds=round(time.perf_counter() - t0, 3))
    return classes, info


def simulate_run(run_dir: str | Path, *, rtl: bool = False, vectors: int | None = None,
                 simulator: str = "auto", backend: str = "auto", threads: int = 1,
                 device: str = "cpu") -> dict:
    """Compare PyTorch eval, the IR simulator and (with ``rtl``) the RTL on test images.

    Writes ``RUN/sim.json`` (``sim-stream.json`` for an RTL simulation of a stream
    export; ``file`` in the result names it) with ``vectors``, ``mismatches`` (classes
    differing between any two models), ``accuracy`` (the IR simulator's), ``torch_accuracy``
    and, with ``rtl``, ``rtl_accuracy`` and ``rtl_mismatches``.  Mismatches are reported,
    not hidden: a non-zero count is a bug in lutnn.  The IR simulator is the compiled C or numpy
    (``backend``, see :func:`_classify`; ``threads`` split the batch for C); sim.json
    records which (``backend``, and ``backend_note`` when auto fell back to numpy).
    ``device`` (``cpu``, ``cuda``, ``auto``) is where the PyTorch evaluation runs.
    """
    from lutnn.distributed import resolve_device
    from lutnn.train import load_run, predict

    run_dir = Path(run_dir)
    model, record = load_run(run_dir)
    netlist = run_netlist(run_dir)
    if netlist.head is None:
        raise LutnnError(f"{run_dir}: the netlist has no class head; nothing to classify")
    if vectors is None and rtl:
        vectors = 1000
    x, y = _test_split(record, vectors)
    t0 = time.perf_counter()
    torch_classes = predict(model.to(resolve_device(device)), x)
    t_torch = time.perf_counter() - t0
    sim_classes, ran = _classify(netlist, x.reshape(len(x), -1), backend, threads)
    result = {
        "vectors": int(len(x)),
        "mismatches": int((torch_classes != sim_classes).sum()),
        "accuracy": float((sim_classes == y).mean()),
        "torch_accuracy": float((torch_classes == y).mean()),
        "torch_seconds": round(t_torch, 3),
        **ran,
        "model_sha256": model_fingerprint(run_dir),
    }
    if rtl:
        result.update(_simulate_exported(run_dir, netlist, x, y, sim_classes, simulator))
        result["mismatches"] += result["rtl_mismatches"]
    result["file"] = result_file("sim", result.get("conv", "unrolled"))
    io.write_json(run_dir / result["file"], result)
    return result


def _simulate_exported(run_dir: Path, netlist, x: np.ndarray, y: np.ndarray,
                       sim_classes: np.ndarray, simulator: str) -> dict:
    """``sim --rtl``: the Verilog file export wrote (exporting first if there is none), run
    in an RTL simulator on ``x``; what sim.json records of it."""
    from lutnn.hdl.rtl import simulate_design
    from lutnn.hdl.stream_rtl import simulate_stream

    if not (_hdl_dir(run_dir) / "export.json").is_file():
        export_run(run_dir)
    exported = _export_record(run_dir)
    options = ExportOptions.from_json(exported)
    artifact = _exported_artifact(run_dir, exported)
    t0 = time.perf_counter()
    flat = x.reshape(len(x), -1)
    with _tool_safe_dir(_hdl_dir(run_dir) / "rtl") as workdir:
        if options.stream:
            rtl_classes = simulate_stream(artifact.design, netlist, flat, simulator=simulator,
                                          workdir=workdir, gap=0.1, stall=0.1).outputs
        else:
            rtl_classes = simulate_design(artifact.design, netlist, flat, simulator=simulator,
                                          workdir=workdir).outputs
    return {
        "pipeline": options.pipeline,
        "conv": options.form,
        "rtl_mismatches": int((rtl_classes != sim_classes).sum()),
        "rtl_accuracy": float((rtl_classes == y).mean()),
        "rtl_seconds": round(time.perf_counter() - t0, 2),
        "simulator": simulator,
    }


def compile_run(run_dir: str | Path, *, out: str | Path | None = None, word: int = 64) -> dict:
    """The run's netlist as bit-sliced C, compiled (:mod:`lutnn.csrc`): ``lutnn.c``,
    ``lutnn.h``, ``liblutnn.so`` and ``build.json`` in ``out`` (default ``RUN/c``), plus
    ``compile.json`` (this record, with the model fingerprint)."""
    from lutnn.csrc.backend import CBackend

    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "c"
    t0 = time.perf_counter()
    artifact = CBackend(word=word).emit(run_netlist(run_dir))
    saved = artifact.save(out)
    source = artifact.source
    info = {"out": str(out), "library": str(saved["library"]), "header": str(saved["header"]),
            "compiler": saved["compiler"], "flags": saved["flags"], "word": word,
            "signals": source.signals, "inputs": source.inputs,
            "num_classes": source.num_classes, "seconds": round(time.perf_counter() - t0, 1),
            "model_sha256": model_fingerprint(run_dir)}
    io.write_json(out / "compile.json", info)
    return info


def _synth_without_encoder(run_dir: Path, options: ExportOptions, target: str,
                           **synth_options) -> dict:
    """With an encoder: the same netlist, exported with the same ``options`` (the exported
    design's pipeline, bound and argmax) and synthesized without the encoder (its inputs are
    then the encoder's bits), the convention of most published LUT counts:
    ``luts_without_encoder``, ``encoder_luts`` (the difference) and ``without_encoder`` (that
    run's counts)."""
    from lutnn.hdl import synthesize
    from lutnn.hdl.backend import backend_for

    netlist = run_netlist(run_dir)
    if netlist.encoder is None:
        return {}
    bare_net = dataclasses.replace(netlist, encoder=None)
    saved = backend_for(options, top=TOP).emit(bare_net, options).save(
        _hdl_dir(run_dir) / "no_encoder")
    bare = synthesize(saved["verilog"], TOP, target=target,
                      workdir=_hdl_dir(run_dir) / f"synth-{target}-no-encoder", **synth_options)
    return {"luts_without_encoder": bare["luts"], "without_encoder": {
        key: bare[key] for key in ("luts", "lut_counts", "ffs", "levels", "seconds")
        if key in bare}}


#: the two ways published LUT counts are made (ANCHORS.md: peers publish both): convention ->
#: what it counts.  ``synth.json`` holds both (``luts_whole_design``,
#: ``luts_encoder_excluded``) and ``lut_conventions``, one row per convention.
LUT_CONVENTIONS = {
    "whole design": "every LUT of the exported design: input encoder comparators, LUT "
                    "layers, popcounts, argmax (lutnn's convention)",
    "encoder excluded": "the same design synthesized without its input encoder, whose bits "
                        "are then its inputs (the peers' convention, e.g. DWN's xcvu9p "
                        "figures)",
}


def lut_conventions(result: dict, has_encoder: bool | None) -> dict:
    """``luts_whole_design``, ``luts_encoder_excluded`` and ``lut_conventions`` of a synthesis
    ``result``: without an encoder both are the whole design; with one not synthesized
    without it (``--whole-only``), the encoder-excluded count is None."""
    whole = result["luts"]
    if "luts_without_encoder" in result:
        excluded = result["luts_without_encoder"]
    else:
        excluded = whole if has_encoder is False else None
    rows = [{"convention": name, "luts": luts, "counts": LUT_CONVENTIONS[name]}
            for name, luts in (("whole design", whole), ("encoder excluded", excluded))]
    return {"luts_whole_design": whole, "luts_encoder_excluded": excluded,
            "lut_conventions": rows}


def synth_run(run_dir: str | Path, *, target: str = "xilinx",
              without_encoder: bool = True, speed: int = 6) -> dict:
    """Synthesize the exported Verilog (exporting first if needed); writes ``RUN/synth.json``
    (``synth-ecp5.json`` for ECP5; ``-stream`` before ``.json`` for a stream export:
    :func:`lutnn.runfolder.result_file`; ``file`` in the result names it): the synthesis
    result plus the export's ``latency`` (cycles), ``pipeline``, ``levels_per_stage`` and,
    with an Fmax, ``latency_ns``.
    With ``without_encoder`` and a netlist with an encoder, a second synthesis of the design
    without it adds ``luts_without_encoder`` and ``encoder_luts`` (whole minus that).  Both
    counting conventions are named in ``lut_conventions`` (:func:`lut_conventions`).
    ``speed`` (ECP5): nextpnr's speed grade (see :func:`lutnn.hdl.synthesize`)."""
    from lutnn.hdl import synthesize
    from lutnn.hdl.synth import latency_ns

    run_dir = Path(run_dir)
    meta_path = _hdl_dir(run_dir) / "export.json"
    if not meta_path.is_file():
        export_run(run_dir)
    exported = _export_record(run_dir)
    options = ExportOptions.from_json(exported)
    synth_options = {"speed": speed} if target == "ecp5" else {}
    artifact = _exported_artifact(run_dir, exported)  # the file export wrote, as it is now
    result = synthesize(exported_path(run_dir, exported["verilog"]), TOP, target=target,
                        workdir=_hdl_dir(run_dir) / f"synth-{target}", **synth_options)
    result["latency"] = artifact.latency
    result["model_sha256"] = exported.get("model_sha256")
    result["pipeline"] = options.pipeline
    result["pipeline_levels_per_stage"] = options.levels_per_stage
    result["conv"] = options.form
    if options.stream:
        result["cycles_per_image"] = artifact.design.cycles_per_image
        result["line_buffer_bits"] = exported["line_buffer_bits"]
    result["latency_ns"] = latency_ns(artifact.latency, result.get("fmax_mhz"))
    has_encoder = None
    if without_encoder:
        result.update(_synth_without_encoder(run_dir, options, target, **synth_options))
        if "luts_without_encoder" in result:
            result["encoder_luts"] = result["luts"] - result["luts_without_encoder"]
        has_encoder = "luts_without_encoder" in result
    result.update(lut_conventions(result, has_encoder))
    result["file"] = result_file("synth", result["conv"], target)
    io.write_json(run_dir / result["file"], result)
    return result


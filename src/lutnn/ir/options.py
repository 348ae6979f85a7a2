"""``ExportOptions``: how a netlist becomes hardware, validated once, recorded in ``export.json``.

One frozen dataclass carries every export choice (``form``, ``pipeline``,
``levels_per_stage``, ``argmax``, ``prune``, and ``format``: Verilog, or QONNX for an XNOR
teacher, which takes none of the others).  It is checked when it is made (a bad value
raises :class:`ExportOptionError`, a :class:`~lutnn.errors.LutnnError` and a ``ValueError``,
with a one-line message), the backends pick their passes from it
(:mod:`lutnn.ir.passes.flow`), and ``export.json`` is written by :meth:`ExportOptions.to_json`
and read by :meth:`ExportOptions.from_json`, which fills the defaults of an older record in
this one place.

Example:
    >>> ExportOptions(pipeline="2").pipeline
    2
    >>> ExportOptions(pipeline="balanced").resolved_argmax
    'parallel'
    >>> ExportOptions.from_json({"pipeline": "none"}) == ExportOptions(pipeline="none")
    True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lutnn.errors import LutnnError

FORMS = ("unrolled", "stream")
FORMATS = ("verilog", "qonnx")
PIPELINES = ("layer", "none", "balanced")
ARGMAX_OPTIONS = ("tree", "parallel")


class ExportOptionError(LutnnError, ValueError):
    """A bad export option: a user error (the CLI prints it on one line) and a ValueError
    (what the emitters raised for bad arguments before the options were typed)."""


def parse_pipeline(pipeline: str | int) -> str | int:
    """Normalize the pipeline option: "layer", "none", "balanced", or a positive int (digits
    allowed)."""
    if isinstance(pipeline, str) and pipeline.strip().isdigit():
        pipeline = int(pipeline)
    if isinstance(pipeline, bool) or not (
        pipeline in PIPELINES or (isinstance(pipeline, int) and pipeline >= 1)
    ):
        raise ExportOptionError("pipeline must be 'layer', 'none', 'balanced' or a positive "
                                f"int, got {pipeline!r}")
    return pipeline


def default_argmax(pipeline: str | int) -> str:
    """The argmax a pipeline option gets unless told: "parallel" with "balanced" (a cycle per
    LUT level: the all-pairs argmax's ~5 levels against the tree's 12 for 10 classes), "tree"
    otherwise (one stage either way, and the tree has half the argmax LUTs)."""
    return "parallel" if pipeline == "balanced" else "tree"


@dataclass(frozen=True)
class ExportOptions:
    """Every choice of ``lutnn export``, checked on construction.

    Attributes:
        form: "unrolled" (every conv position its own LUTs, one image per clock) or "stream"
            (the spatial netlist, one pixel per clock through line buffers).
        pipeline: registers: "layer", "none", "balanced" or a positive int (digit strings
            are read as ints); for a stream, its dense tail's.
        levels_per_stage: with "balanced", the most LUT levels per stage (None: the deepest
            LUT layer's); refused with any other pipeline and with a stream.
        argmax: the head's argmax, "tree" or "parallel"; None: :func:`default_argmax` of the
            pipeline (see :attr:`resolved_argmax`); refused with a stream.
        prune: prune the netlist before export (the unrolled form only: a stream is never
            pruned, so ``prune`` is False there whatever was asked).
        format: "verilog" (``RUN/hdl``) or "qonnx" (``RUN/qonnx/model.onnx``, an XNOR
            teacher as QONNX: the network as converted, so ``prune`` is False; the Verilog
            options are refused with it).
    """

    form: str = "unrolled"
    pipeline: str | int = "layer"
    levels_per_stage: int | None = None
    argmax: str | None = None
    prune: bool = True
    format: str = "verilog"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ExportOptionError(f"format must be one of {', '.join(FORMATS)}, got "
                                    f"{self.format!r}")
        if self.form not in FORMS:
            raise ExportOptionError(f"conv must be one of {', '.join(FORMS)}, got "
                                    f"{self.form!r}")
        pipeline = parse_pipeline(self.pipeline)
        object.__setattr__(self, "pipeline", pipeline)
        n = self.levels_per_stage
        if n is not None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ExportOptionError(f"levels_per_stage must be a positive int, got {n!r}")
            if pipeline != "balanced":
                raise ExportOptionError(f"--levels-per-stage (levels_per_stage) needs "
                                        f"--pipeline balanced, not {pipeline!r}")
            if self.form == "stream":
                raise ExportOptionError("levels_per_stage is an option of the unrolled form; "
                                        "the stream's dense tail uses its pipeline's default: "
                                        "drop --levels-per-stage")
        if self.argmax is not None:
            if self.argmax not in ARGMAX_OPTIONS:
                raise ExportOptionError(f"argmax must be one of {', '.join(ARGMAX_OPTIONS)}, "
                                        f"got {self.argmax!r}")
            if self.form == "stream":
                raise ExportOptionError("argmax is an option of the unrolled form's head; the "
                                        "stream's dense tail uses its pipeline's default: drop "
                                        "--argmax")
        if not isinstance(self.prune, bool):
            raise ExportOptionError(f"prune must be True or False, got {self.prune!r}")
        if self.form == "stream":
            object.__setattr__(self, "prune", False)  # prune reads the flat form only
        if self.format == "qonnx":
            self._check_qonnx()
            object.__setattr__(self, "prune", False)  # the teacher as converted

    def _check_qonnx(self) -> None:
        """QONNX takes none of the Verilog options: each one set is refused by its flag."""
        verilog_only = {"--levels-per-stage": self.levels_per_stage is not None,
                        "--argmax": self.argmax is not None, "--conv": self.form != "unrolled",
                        "--pipeline": self.pipeline != "layer"}
        for flag, given in verilog_only.items():
            if given:
                raise ExportOptionError(f"{flag} is an option of the Verilog export; drop it "
                                        "with --format qonnx")

    @classmethod
    def from_flags(cls, *, form: str = "unrolled", pipeline: str | int | None = None,
                   levels_per_stage: int | None = None, argmax: str | None = None,
                   prune: bool = True, format: str = "verilog") -> ExportOptions:
        """The options of command-line flags, where an absent ``--pipeline`` (None) means
        "balanced" when ``--levels-per-stage`` is given and the default otherwise."""
        if format == "qonnx" and (pipeline is not None or not prune):
            flag = "--pipeline" if pipeline is not None else "--no-prune"
            raise ExportOptionError(f"{flag} is an option of the Verilog export; drop it with "
                                    "--format qonnx")
        if pipeline is None:
            pipeline = "balanced" if levels_per_stage is not None else cls.pipeline
        return cls(form=form, pipeline=pipeline, levels_per_stage=levels_per_stage,
                   argmax=argmax, prune=prune, format=format)

    @property
    def stream(self) -> bool:
        return self.form == "stream"

    @property
    def resolved_argmax(self) -> str:
        """The argmax the head gets: :attr:`argmax`, or the pipeline's default."""
        return default_argmax(self.pipeline) if self.argmax is None else self.argmax

    def replace(self, **changes: Any) -> ExportOptions:
        """A copy with ``changes``, validated again."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        """The options as ``export.json`` records them: ``pipeline``, ``levels_per_stage``,
        and ``argmax`` for the unrolled form, ``conv`` for a stream (an unrolled record has
        no ``conv``: that is the default); ``format`` only when it is not Verilog."""
        record: dict[str, Any] = {"pipeline": self.pipeline,
                                  "levels_per_stage": self.levels_per_stage}
        if self.stream:
            record["conv"] = self.form
        else:
            record["argmax"] = self.argmax
        if self.format != "verilog":
            record["format"] = self.format
        return record

    @classmethod
    def from_json(cls, record: dict) -> ExportOptions:
        """The options an ``export.json`` record names; a key it lacks (an older record) gets
        the field's default here, the one place defaults are filled.  ``prune`` is read from
        ``pruned``."""
        default = cls()
        form = record.get("conv", default.form)
        stream = form == "stream"
        levels = record.get("levels_per_stage", default.levels_per_stage)
        return cls(form=form, pipeline=record.get("pipeline", default.pipeline),
                   levels_per_stage=None if stream else levels,
                   argmax=None if stream else record.get("argmax", default.argmax),
                   prune=bool(record.get("pruned", default.prune)),
                   format=record.get("format", default.format))


__all__ = ["ARGMAX_OPTIONS", "FORMATS", "FORMS", "PIPELINES", "ExportOptionError", "ExportOptions",
           "default_argmax", "parse_pipeline"]

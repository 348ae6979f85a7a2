"""The streaming design's control logic as a model, clock by clock.

:class:`StreamStage` describes one conv / pool stage's raster (which padded positions read a
pixel, which emit one); :class:`_ControlModel` steps the stages' valid/ready handshakes, the
collector and the dense tail exactly as the Verilog of :mod:`lutnn.hdl.stream` does.  From it:
:func:`stream_timing` (latency, clocks per image), :func:`stall_capacity` (how far an
``m_tready`` stall takes to reach ``s_tready``) and :func:`choose_registered_ready` (which
stages may cut the ready path at no cost in throughput).  All three are tested against the
RTL (tests/test_stream.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class StreamStage:
    """One conv / pool stage of a streaming design (what the report and tests read)."""

    name: str
    kind: str  # "LutConv", "XnorConv", "OrPool"
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    padded_positions: int  # clocks per image at full speed: (R + 2PR) * (Q + 2PC)
    line_buffer_bits: int  # shift-register bits: C * ((KR - 1) * (Q + 2PC) + KC - 1)
    row_in: tuple[bool, ...] = ()  # per padded row: inside the image
    col_in: tuple[bool, ...] = ()  # per padded column: inside the image
    row_out: tuple[bool, ...] = ()  # per padded row: completes an output window
    col_out: tuple[bool, ...] = ()  # per padded column: completes an output window
    # the stage emits only into an empty output register, so its in_ready reads no signal
    # from downstream (no combinational ready path through it); chosen by
    # :func:`registered_ready` where it costs no throughput
    registered_ready: bool = False
    # (with registered_ready) the stage computes its output one clock after the step that
    # completes a window, from the line buffer alone (one pixel longer), so no path runs from
    # its input through the engine; chosen by :func:`choose_registered_window` where it costs
    # no throughput (one clock of latency each)
    registered_window: bool = False

    @property
    def padded(self) -> bool:
        """Some positions of the raster are padding (the stage muxes its input pixel)."""
        return not (all(self.row_in) and all(self.col_in))


class _ControlModel:
    """The emitted control logic (stages, collector, tail), clock by clock: a model of the
    RTL's handshakes with ``s_tvalid`` high from clock ``lead + 1`` while any of ``total``
    pixels is left.  ``positions``: pixels the collector takes per image."""

    def __init__(self, stages: tuple[StreamStage, ...], positions: int, tail_latency: int,
                 total: int, lead: int = 1):
        self.stages, self.positions, self.tail_latency = stages, positions, tail_latency
        self.total, self.lead = total, lead
        self.state = [[0, 0, False, False] for _ in stages]  # row, col, out_valid, pending
        self.full = self.busy = self.m_valid = False
        self.count = self.left = self.sent = self.cycle = 0

    def snapshot(self) -> tuple:
        return (tuple(map(tuple, self.state)), self.full, self.busy, self.m_valid, self.count,
                self.left, self.sent)

    def tick(self, m_ready: bool = True) -> tuple[bool, bool]:
        """One clock; whether a pixel and whether a result were taken at its edge."""
        self.cycle += 1
        stages, state, n = self.stages, self.state, len(self.stages)
        offered = self.lead < self.cycle and self.sent < self.total  # s_tvalid
        launch = self.full and not self.busy and not self.m_valid
        capture = launch if self.tail_latency == 0 else self.busy and self.left == 0
        ready = not self.full  # the collector's in_ready
        moves = []
        for i in reversed(range(n)):
            s, (row, col, out_valid, pending) = stages[i], state[i]
            inside, emits = s.row_in[row] and s.col_in[col], s.row_out[row] and s.col_out[col]
            out_free = not (out_valid or pending) or (ready and not s.registered_ready)
            in_valid = offered if i == 0 else state[i - 1][2]
            step = (in_valid if inside else True) and (not emits or out_free)
            moves.append((i, step, emits, ready))
            ready = inside and (not emits or out_free)
        c_valid = state[-1][2] if n else offered
        took = offered and ready  # stage 0's in_ready (or the collector's)
        self.sent += took
        for i, step, emits, out_ready in moves:
            s, st = stages[i], state[i]
            if out_ready:
                st[2] = False
            if st[3]:  # a registered window's result, computed this clock
                st[2], st[3] = True, False
            if step:
                st[1] += 1
                if st[1] == len(s.col_in):
                    st[1] = 0
                    st[0] = (st[0] + 1) % len(s.row_in)
                if emits and s.registered_window:
                    st[3] = True  # the result follows next clock
                elif emits:
                    st[2] = True
        out = self.m_valid and m_ready
        if out:
            self.m_valid = False
        if c_valid and not self.full:
            self.count += 1
            if self.count == self.positions:
                self.count, self.full = 0, True
        if launch:
            self.busy, self.left = True, max(self.tail_latency - 1, 0)
        elif self.left:
            self.left -= 1
        if capture:
            self.m_valid, self.full, self.busy = True, False, False
        return took, out


def stream_timing(stages: tuple[StreamStage, ...], positions: int, tail_latency: int,
                  pixels: int, images: int = 3, lead: int = 1) -> tuple[int, int]:
    """(latency, interval) of the emitted control logic without stalls, clock by clock.

    A model of the RTL's handshakes (:class:`_ControlModel`) with ``s_tvalid`` and
    ``m_tready`` always high: latency = clocks from the first pixel's handshake to the first
    result's, interval = clocks between the last two of ``images`` results (steady state).
    ``positions``: pixels the collector takes per image; ``lead``: clocks after reset before
    the first pixel is offered (the testbench's 1).  Tested equal to the testbench's.
    """
    first_in, outs = _result_cycles(stages, positions, tail_latency, pixels, images, lead)
    return outs[0] - first_in, (outs[-1] - outs[-2]) if images > 1 else 0


def _result_cycles(stages: tuple[StreamStage, ...], positions: int, tail_latency: int,
                   pixels: int, images: int, lead: int = 1) -> tuple[int, list[int]]:
    """(clock of the first pixel's handshake, clocks of the ``images`` results' handshakes)
    without stalls (:class:`_ControlModel`)."""
    model = _ControlModel(stages, positions, tail_latency, images * pixels, lead)
    first_in, outs = None, []
    while len(outs) < images:
        if model.cycle > 100 * (images * pixels + 10) * (tail_latency + 2):
            raise AssertionError("stream_timing: no progress")
        took, out = model.tick()
        if took and first_in is None:
            first_in = model.cycle
        if out:
            outs.append(model.cycle)
    return first_in, outs


def stall_capacity(stages: tuple[StreamStage, ...], positions: int, tail_latency: int,
                   pixels: int) -> int:
    """Pixels the design takes, from reset, while ``m_tready`` stays low (``s_tvalid`` high):
    how far a stall at the output takes to reach ``s_tready``.  The model of
    :func:`stream_timing` run until every stage stands still (tested against the RTL)."""
    # each stage holds at most an image of its input and one output pixel, the collector and
    # m_tdata one image each: pixels beyond these are never taken (checked below)
    total = (2 * len(stages) + 3) * pixels + 1
    model = _ControlModel(stages, positions, tail_latency, total)
    before = None
    while model.snapshot() != before or model.cycle <= model.lead:
        if model.cycle > 100 * (total + 10) * (tail_latency + 2):
            raise AssertionError("stall_capacity: no standstill")
        before = model.snapshot()
        model.tick(m_ready=False)
    assert model.sent < total, "stall_capacity: the bound on what the stages hold is wrong"
    return model.sent


def choose_registered_ready(stages: tuple[StreamStage, ...], positions: int,
                            tail_latency: int, pixels: int) -> tuple[StreamStage, ...]:
    """``stages`` with :attr:`StreamStage.registered_ready` set wherever it costs no
    throughput: one stage at a time, in order, kept where every result of six images comes on
    the same clock as with the stages before it (no stalls: latency and interval unchanged).

    A registered-ready stage emits only into an empty output register, so its ``in_ready``
    is a function of its own registers: the ``m_tready`` -> ``s_tready`` path, one LUT level
    per stage, stops there (it limited Fmax).  It costs throughput only where the stage
    would emit on consecutive clocks (a stride-1 stage fed a pixel every clock); after a
    stride-2 stage every stage is fed at most every other clock.
    """
    def timing(chosen):  # every result's clock over a few images, without stalls
        return _result_cycles(chosen, positions, tail_latency, pixels, 6)

    chosen = tuple(stages)
    base = timing(chosen)
    for i in range(len(chosen)):
        trial = chosen[:i] + (replace(chosen[i], registered_ready=True),) + chosen[i + 1:]
        if timing(trial) == base:
            chosen = trial
    return chosen


def choose_registered_window(stages: tuple[StreamStage, ...], positions: int,
                             tail_latency: int, pixels: int) -> tuple[StreamStage, ...]:
    """``stages`` with :attr:`StreamStage.registered_window` set on registered-ready stages
    wherever it costs no throughput: one stage at a time, kept where the clocks between
    consecutive results of six images stay the same (the latency grows by a clock per stage).

    Such a stage's engine reads only registers (its line buffer, one pixel longer), and its
    result reaches the output register one clock after the window completed: the path from
    the previous stage's output through the padding mux and the engine (ECP5's critical
    path once the ready chain was cut) is gone.  Only padded stages get one: without
    padding there is no mux, and the engine reads the previous stage's output register.  Its output register is busy for a clock
    more per pixel, which costs throughput only where the stage emits every other clock.
    """
    def intervals(chosen):  # clocks between consecutive results, without stalls
        outs = _result_cycles(chosen, positions, tail_latency, pixels, 6)[1]
        return [b - a for a, b in zip(outs, outs[1:])]

    chosen = tuple(stages)
    base = intervals(chosen)
    for i, stage in enumerate(chosen):
        if not stage.registered_ready or not stage.padded:
            continue  # without padding the engine reads the previous output register already
        longer = stage.line_buffer_bits + stage.in_shape[0]  # the line buffer's extra pixel
        trial = chosen[:i] + (replace(stage, registered_window=True, line_buffer_bits=longer),
                              ) + chosen[i + 1:]
        if intervals(trial) == base:
            chosen = trial
    return chosen


__all__ = ["StreamStage", "choose_registered_ready", "choose_registered_window",
           "stall_capacity", "stream_timing"]

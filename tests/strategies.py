"""Hypothesis strategies shared by the tests: random unlowered netlists and inputs for them.

One ``netlists(...)`` strategy serves the pass, simulator, C and RTL tests; its keyword
arguments are the differences between them (sizes, the largest LUT, threshold fan-ins,
awkward names for the Verilog emitter, some constant tables for the simulator).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from lutnn.ir import (
    BitplaneEncoder,
    FeatureEncoder,
    GroupSumHead,
    InputEncoder,
    LutLayer,
    Netlist,
    OrLayer,
    ThresholdLayer,
)

#: threshold fan-ins that reach every branch of the lowering (single LUT, counter tree + LUT,
#: adder + LUT, adder + comparator)
LOWERING_FAN_INS = (1, 3, 6, 7, 12, 20, 40, 70, 130, 300)


def threshold_layer(name: str, width: int, n: int, fan_in: int,
                    rng: np.random.Generator) -> ThresholdLayer:
    """XNOR rows with weights in {-1, 0, +1}, ~10% fully unconnected neurons, and thresholds
    around the connected count's middle plus the constant cases 0, F and F + 1."""
    inputs = rng.integers(0, width, (n, fan_in)).astype(np.int32)
    weights = rng.choice(np.array([-1, 0, 1], np.int8), (n, fan_in), p=[0.4, 0.2, 0.4])
    weights[rng.random(n) < 0.1] = 0  # unconnected neurons
    connected = (weights != 0).sum(axis=1)
    thresholds = np.where(rng.random(n) < 0.7, connected // 2 + rng.integers(-2, 3, n),
                          rng.choice([0, fan_in + 1, fan_in], n)).clip(0, fan_in + 1)
    return ThresholdLayer(name, width, inputs, weights, thresholds.astype(np.int32),
                          rng.random(n) < 0.5)


def lut_layer(name: str, width: int, n: int, k: int, rng: np.random.Generator,
              constant_tables: bool = False) -> LutLayer:
    """Random wiring and tables; with ``constant_tables`` a node's table is drawn with a
    one-probability of 0, 0.1, 0.5, 0.9 or 1 (so some tables are constant)."""
    inputs = rng.integers(0, width, (n, k)).astype(np.int32)
    if constant_tables:
        p_one = rng.choice([0.0, 0.1, 0.5, 0.9, 1.0], size=(n, 1))
        tables = (rng.random((n, 2**k)) < p_one).astype(np.uint8)
    else:
        tables = rng.integers(0, 2, (n, 2**k)).astype(np.uint8)
    return LutLayer(name, width, inputs, tables)


def _encoder(draw, rng: np.random.Generator, name: str, c: int, hw: int):
    """A comparator encoder (shared thresholds), a bit-plane encoder, or a per-pixel
    thermometer (8-bit, thresholds repeated within a pixel and across pixels, as a
    distributive thermometer's are, and constants 0 and 256)."""
    kind = draw(st.sampled_from(["comparator", "bitplanes", "feature"]))
    if kind == "bitplanes":
        return BitplaneEncoder(name, c, c * hw, draw(st.integers(1, 8)))
    levels = draw(st.integers(1, 3))
    if kind == "comparator":
        thresholds = draw(st.sets(st.integers(0, 256), min_size=levels, max_size=levels))
        return InputEncoder(name, c, c * hw, np.array(sorted(thresholds), np.int16))
    pool = np.array([0, 1, 5, 128, 200, 255, 256])
    thresholds = np.sort(rng.choice(pool, (c * hw, levels)), axis=1).astype(np.int32)
    return FeatureEncoder(name, c, c * hw, 8, thresholds, np.ones(c * hw), np.zeros(c * hw))


def netlists(
    *,
    max_k: int = 6,
    layers: tuple[int, int] = (1, 3),
    width: tuple[int, int] = (1, 24),
    out: tuple[int, int] = (1, 24),
    group: tuple[int, int] = (1, 9),
    fan_in: st.SearchStrategy[int] | None = None,
    or_fan_in: tuple[int, int] = (1, 4),
    channels: tuple[int, int] = (1, 2),
    pixels: tuple[int, int] = (1, 4),
    constant_tables: bool = False,
    verilog_names: bool = False,
) -> st.SearchStrategy[Netlist]:
    """Random valid netlists of every unlowered type (LUT, threshold and OR layers), with or
    without an input encoder and a group-sum head.

    Args:
        max_k: LUT inputs are drawn from 1..max_k.
        layers, width, out, group: ranges of the layer count (0 allowed), the input width
            without an encoder, each layer's width, and the head's group size.
        fan_in: the threshold fan-ins (default: 1..60).
        or_fan_in: range of an OR node's fan-in.
        channels, pixels: ranges of an encoder's channels and pixels per channel.
        constant_tables: some LUT tables constant (:func:`lut_layer`).
        verilog_names: names with ``/`` and spaces that the Verilog emitter must sanitise.
    """
    fan_ins = fan_in if fan_in is not None else st.integers(1, 60)

    @st.composite
    def build(draw) -> Netlist:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        encoder = None
        if draw(st.booleans()):
            c, hw = draw(st.integers(*channels)), draw(st.integers(*pixels))
            encoder = _encoder(draw, rng, "enc/in" if verilog_names else "enc", c, hw)
        n_layers = draw(st.integers(*layers))
        head = draw(st.booleans()) and (n_layers > 0 or encoder is None)
        classes, size = draw(st.integers(2, 5)), draw(st.integers(*group))
        if encoder is not None:
            bits = encoder.out_width
        elif head and n_layers == 0:
            bits = classes * size
        else:
            bits = draw(st.integers(*width))
        input_bits, nodes = bits, []
        for i in range(n_layers):
            n = classes * size if head and i == n_layers - 1 else draw(st.integers(*out))
            kind = draw(st.sampled_from(["lut", "threshold", "or"]))
            name = f"{kind} {i}" if verilog_names else f"l{i}"
            if kind == "lut":
                layer = lut_layer(name, bits, n, draw(st.integers(1, max_k)), rng,
                                  constant_tables)
            elif kind == "threshold":
                layer = threshold_layer(name, bits, n, draw(fan_ins), rng)
            else:
                m = draw(st.integers(*or_fan_in))
                layer = OrLayer(name, bits, rng.integers(0, bits, (n, m)).astype(np.int32))
            nodes.append(layer)
            bits = n
        net = Netlist(input_bits, tuple(nodes), encoder,
                      GroupSumHead("head", bits, classes) if head else None)
        net.validate()
        return net

    return build()


def lowering_netlists() -> st.SearchStrategy[Netlist]:
    """Netlists for the passes and the C back end: LUTs up to k = 8 (the IR's limit) and
    threshold fan-ins up to 300, which reach every branch of the lowering."""
    return netlists(max_k=8, group=(1, 40), fan_in=st.sampled_from(LOWERING_FAN_INS))


def random_inputs(net: Netlist, batch: int, seed: int) -> np.ndarray:
    """``batch`` inputs for ``net``: bits, or pixels at, beside and away from every encoder
    threshold."""
    rng = np.random.default_rng(seed)
    if net.encoder is None:
        return rng.integers(0, 2, (batch, net.input_bits)).astype(np.uint8)
    if isinstance(net.encoder, BitplaneEncoder):
        return rng.integers(0, 256, (batch, net.encoder.pixels)).astype(np.uint8)
    thresholds = net.encoder.thresholds.ravel()
    near = np.concatenate([thresholds + d for d in (-1, 0, 1)]).clip(0, 255)
    pool = np.concatenate([near, rng.integers(0, 256, near.size)])
    return rng.choice(pool, (batch, net.encoder.in_width)).astype(np.uint8)

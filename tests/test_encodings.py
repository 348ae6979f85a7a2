"""Tests of lutnn.data.encodings against the definition ``out[:, c*T+t] = x[:, c] >= thr[t]``."""

from __future__ import annotations

from fractions import Fraction
from math import floor

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lutnn.data.encodings import (
    ENCODERS,
    ThermometerEncoder,
    ThresholdEncoder,
    get_encoder,
    thermometer_thresholds,
)
from lutnn.errors import LutnnError

ALL_PIXELS = torch.arange(256).reshape(1, 1, 16, 16)  # every 8-bit value once


def _oracle_thresholds(levels: int) -> list[int]:
    """The documented formula, in exact rational arithmetic."""
    return [floor(Fraction(256 * (t + 1), levels + 1) + Fraction(1, 2)) for t in range(levels)]


def _oracle_bits(pixels: np.ndarray, thresholds: list[int]) -> np.ndarray:
    """Loop-by-loop definition: out[b, c*T + t, h, w] = pixels[b, c, h, w] >= thresholds[t]."""
    b, c, h, w = pixels.shape
    t_count = len(thresholds)
    out = np.zeros((b, c * t_count, h, w), np.float32)
    for ci in range(c):
        for ti, thr in enumerate(thresholds):
            out[:, ci * t_count + ti] = pixels[:, ci] >= thr
    return out


@pytest.mark.parametrize("levels", [1, 2, 3, 4, 7, 8, 15, 31, 100, 254, 255])
def test_thermometer_all_pixel_values(levels):
    enc = ThermometerEncoder(levels=levels)
    thr = _oracle_thresholds(levels)
    assert enc.threshold_values().tolist() == thr
    assert all(1 <= a < b <= 255 for a, b in zip(thr[:-1], thr[1:], strict=True))
    for dtype in (torch.uint8, torch.float32, torch.float64):
        out = enc(ALL_PIXELS.to(dtype))
        assert out.dtype == torch.float32 and out.shape == (1, levels, 16, 16)
        np.testing.assert_array_equal(out.numpy(), _oracle_bits(ALL_PIXELS.numpy(), thr))


def test_thermometer_known_values():
    assert thermometer_thresholds(1) == [128]
    assert thermometer_thresholds(3) == [64, 128, 192]
    assert thermometer_thresholds(255) == list(range(1, 256))
    for bad in (0, 256, 2.0, True):
        with pytest.raises(ValueError, match="levels must be an integer in 1..255"):
            thermometer_thresholds(bad)


def test_channel_major_bit_order():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 3, 4, 5))
    thr = [10, 100, 101, 250]
    enc = ThermometerEncoder(thresholds=thr)
    out = enc(torch.from_numpy(x).to(torch.uint8))
    assert out.shape == (2, 12, 4, 5) and enc.out_channels(3) == 12
    np.testing.assert_array_equal(out.numpy(), _oracle_bits(x, thr))
    assert out[:, 1 * 4 + 2].equal(torch.from_numpy((x[:, 1] >= 101).astype(np.float32)))


def test_threshold_encoder():
    enc = ThresholdEncoder()
    pixels = torch.tensor([0.0, 127.0, 127.5, 128.0, 255.0]).reshape(1, 1, 1, 5)
    assert enc(pixels).flatten().tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    np.testing.assert_array_equal(
        ThresholdEncoder(200)(ALL_PIXELS).numpy(), _oracle_bits(ALL_PIXELS.numpy(), [200])
    )
    assert enc.threshold_values().dtype == np.int16 and enc.num_thresholds == 1
    for bad in (0, 256, 12.5):
        with pytest.raises(ValueError, match="integers in 1..255"):
            ThresholdEncoder(bad)


def test_explicit_thresholds_validation():
    with pytest.raises(ValueError, match="strictly increasing"):
        ThermometerEncoder(thresholds=[10, 10, 20])
    with pytest.raises(ValueError, match="must not be empty"):
        ThermometerEncoder(thresholds=[])
    with pytest.raises(ValueError, match="levels=3 but 2 thresholds"):
        ThermometerEncoder(levels=3, thresholds=[1, 2])
    with pytest.raises(ValueError, match="either levels or thresholds"):
        ThermometerEncoder()


@pytest.mark.parametrize("shape", [(16, 16), (1, 256), (1, 1, 1, 16, 16)])
def test_wrong_input_rank(shape):
    with pytest.raises(ValueError, match=r"expects pixels of shape \[B, C, H, W\], got shape"):
        ThermometerEncoder(levels=2)(torch.zeros(shape))


def test_thresholds_are_a_saved_buffer():
    enc = ThermometerEncoder(levels=3)
    state = enc.state_dict()
    assert state["thresholds"].dtype == torch.int16
    assert state["thresholds"].tolist() == [64, 128, 192]
    fresh = ThermometerEncoder(levels=3)
    fresh.load_state_dict(state)
    assert list(enc.parameters()) == []  # nothing to train


def test_registry_and_config_round_trip():
    assert set(ENCODERS) == {"threshold", "thermometer", "distributive", "uniform", "bitplanes"}
    for enc in (
        ThresholdEncoder(77),
        ThermometerEncoder(levels=5),
        ThermometerEncoder(thresholds=[3, 9]),
    ):
        cfg = enc.to_config()
        rebuilt = get_encoder(cfg.pop("name"), **cfg)
        assert type(rebuilt) is type(enc)
        assert rebuilt.threshold_values().tolist() == enc.threshold_values().tolist()


def test_get_encoder_errors():
    with pytest.raises(
        LutnnError, match=r"unknown encoder 'gray'; known encoders: bitplanes, distributive, "
                          r"thermometer, threshold, uniform"
    ):
        get_encoder("gray")
    with pytest.raises(LutnnError, match=r"bad arguments for encoder 'thermometer'.*levels"):
        get_encoder("thermometer", levels=0)
    with pytest.raises(LutnnError, match=r"bad arguments for encoder 'threshold'"):
        get_encoder("threshold", levels=3)


thresholds_st = st.lists(st.integers(1, 255), min_size=1, max_size=12, unique=True).map(sorted)


@settings(max_examples=200, deadline=None)
@given(thr=thresholds_st, p=st.integers(0, 255), q=st.integers(0, 255))
def test_property_thermometer_code_and_monotone(thr, p, q):
    enc = ThermometerEncoder(thresholds=thr)
    bits = enc(torch.tensor([p, q], dtype=torch.float32).reshape(1, 2, 1, 1))[0, :, 0, 0]
    bp, bq = bits[: len(thr)], bits[len(thr) :]  # channel 0 = p, channel 1 = q
    assert torch.all(bp[1:] <= bp[:-1])  # a thermometer code: non-increasing in t
    assert int(bp.sum()) == sum(t <= p for t in thr)  # count of thresholds reached
    if p <= q:
        assert torch.all(bp <= bq)  # more pixel, never fewer bits

"""PyTorch modules: binary teacher layers, lowered convolution, LUT layers, wiring."""

from lutnn.nn.binary import (
    QUANTIZERS,
    BinaryLinear,
    BinaryMaxPool2d,
    GroupSum,
    SignSTE,
    clipped_ste_sign,
    get_quantizer,
    ste_sign,
)
from lutnn.nn.conv import LoweredConv2d
from lutnn.nn.lut import LUTLayer
from lutnn.nn.wiring import WIRINGS, get_wiring, weight_order

__all__ = [
    "QUANTIZERS",
    "WIRINGS",
    "BinaryLinear",
    "BinaryMaxPool2d",
    "GroupSum",
    "LUTLayer",
    "LoweredConv2d",
    "SignSTE",
    "clipped_ste_sign",
    "get_quantizer",
    "get_wiring",
    "ste_sign",
    "weight_order",
]

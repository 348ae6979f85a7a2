"""to_ir: PyTorch eval == IR simulator, every intermediate bit and every class, on MNIST images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lutnn.data import load_mnist
from lutnn.errors import LutnnError
from lutnn.frontend import to_ir
from lutnn.models import build_model, make_config
from lutnn.nn.binary import BinaryLinear
from lutnn.nn.lut import LUTLayer
from lutnn.sim import simulate

SHAPE = (1, 28, 28)
TINY = {
    "teacher-mlp": {"hidden": [64, 48], "group_size": 5},
    "teacher-cnn": {"channels": [4, 6], "hidden": [32], "group_size": 4},
    "teacher-mobilenet": {"stem_channels": 4, "channels": [6], "hidden": [32], "group_size": 4},
    "lut-mlp": {"layers": [300, 100]},
    "lut-cnn": {"channels": [4, 6], "layers": [60], "group_size": 4},
}


@pytest.fixture(scope="module")
def images(mnist_dir) -> np.ndarray:
    _, _, x_test, _ = load_mnist(mnist_dir)
    return x_test[:300][:, None]  # (B, 1, 28, 28) uint8


def randomized(name: str, seed: int = 0) -> nn.Module:
    """A model with random weights, BN statistics (incl. negative and zero scales) and tables."""
    torch.manual_seed(seed)
    model = build_model(name, make_config(name, TINY[name]), SHAPE, 10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, BinaryLinear):
                fan_in = m.in_features // m.groups
                m.bn.running_mean.uniform_(-0.3 * fan_in**0.5, 0.3 * fan_in**0.5)
                m.bn.running_var.uniform_(0.5, 2.0 * fan_in)
                m.bn.weight.uniform_(-1, 1)
                m.bn.weight[::7] = 0.0
                m.bn.bias.uniform_(-0.5, 0.5)
            if isinstance(m, LUTLayer):
                m.tables.normal_()
    return model.eval()


def torch_layer_bits(model: nn.Module, x: torch.Tensor) -> tuple[list[np.ndarray], np.ndarray]:
    """Bits after every block that the IR turns into a layer, flattened; and the classes."""
    outs: list[np.ndarray] = []
    h = x
    with torch.no_grad():
        for m in model:
            h = m(h)
            if not isinstance(m, (nn.Flatten,)) and m is not model[-1]:
                outs.append(h.reshape(len(x), -1).numpy().astype(bool))
    return outs, h.argmax(1).numpy()


@pytest.mark.parametrize("name", sorted(TINY))
def test_torch_equals_simulator_on_every_bit(name, images):
    model = randomized(name)
    netlist = to_ir(model, SHAPE)
    torch_bits, torch_classes = torch_layer_bits(model, torch.from_numpy(images).float())
    result = simulate(netlist, images.reshape(len(images), -1))
    assert len(result.layer_bits) == len(torch_bits)
    for i, (ours, theirs) in enumerate(zip(result.layer_bits, torch_bits, strict=True)):
        assert ours.shape == theirs.shape, f"layer {i}"
        np.testing.assert_array_equal(ours, theirs, err_msg=f"layer {i} of {name}")
    np.testing.assert_array_equal(result.classes, torch_classes)


def test_real_weight_teacher_is_refused_with_a_reason():
    model = build_model("teacher-mlp", make_config("teacher-mlp", {**TINY["teacher-mlp"],
                                                                   "binary_weights": False}),
                        SHAPE, 10)
    with pytest.raises(LutnnError, match="real weights cannot export as an XNOR-Net"):
        to_ir(model.eval(), SHAPE)


def test_unsupported_block_is_named():
    model = nn.Sequential(nn.Flatten(), BinaryLinear(784, 20, binary_weights=True), nn.ReLU())
    with pytest.raises(LutnnError, match=r"block 2 \(ReLU\) is not supported"):
        to_ir(model.eval(), SHAPE)


def test_k_above_the_ir_limit_is_a_clear_error():
    """LUTLayer trains k up to 16; the IR holds k <= 8: to_ir names the limit, no traceback."""
    model = nn.Sequential(LUTLayer(12, 4, k=9))
    with pytest.raises(LutnnError, match="k=9 LUTs cannot be exported.*at most k=8"):
        to_ir(model.eval(), input_bits=12)


def test_xnor_conv_whose_groups_cut_a_channel_window_converts_bit_exact():
    """A BinaryLinear in a conv whose groups of patch slots do not split the input channels
    (2 channels x 3x3 = 18 slots in 3 groups) has no grouped XnorConv: to_ir builds an
    ungrouped one, 0 outside each neuron's slots, and both forms give torch's bits."""
    from lutnn.ir import XnorConv
    from lutnn.nn.binary import GroupSum
    from lutnn.nn.conv import LoweredConv2d

    torch.manual_seed(0)
    conv = LoweredConv2d(2, 3, 3, BinaryLinear(18, 3, groups=3, binary_weights=True), padding=1)
    model = nn.Sequential(conv, nn.Flatten(), BinaryLinear(48, 4, binary_weights=True),
                          GroupSum(2, 1.0)).eval()
    x = np.random.default_rng(0).integers(0, 2, (200, 2, 4, 4)).astype(np.uint8)
    node = to_ir(model, (2, 4, 4), spatial=True).layers[0]
    assert isinstance(node, XnorConv) and node.groups == 1
    assert ((node.weights != 0).sum(1) == 6).all()  # each neuron's own 6 slots
    torch_bits, torch_classes = torch_layer_bits(model, torch.from_numpy(x).float())
    for spatial in (False, True):
        result = simulate(to_ir(model, (2, 4, 4), spatial=spatial), x.reshape(200, -1))
        np.testing.assert_array_equal(result.classes, torch_classes)
    flat = simulate(to_ir(model, (2, 4, 4)), x.reshape(200, -1))
    for ours, theirs in zip(flat.layer_bits, torch_bits, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_dense_first_block_without_a_width_is_a_clear_error():
    model = nn.Sequential(LUTLayer(12, 4, k=3))
    with pytest.raises(LutnnError, match="pass input_shape or input_bits"):
        to_ir(model.eval())

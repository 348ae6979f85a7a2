"""Presets: named recipes that `lutnn train --preset` trains, and their overrides."""

from __future__ import annotations

import json

import pytest

from lutnn.cli import main
from lutnn.models import build_model, make_config
from lutnn.nn.lut import LUTLayer
from lutnn.presets import PRESETS
from lutnn.train import TrainConfig


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_and_its_settings_are_valid(name) -> None:
    preset = PRESETS[name]
    cfg = make_config(preset.model, preset.config)
    shape, classes = ((16,), 5) if name.startswith("jsc") else ((1, 28, 28), 10)  # JSC: table
    model = build_model(preset.model, cfg, shape, classes)
    TrainConfig(**preset.train)  # known fields only
    if preset.model.startswith("teacher"):  # a distillation teacher: its students' settings
        from lutnn.distill import DistillConfig

        DistillConfig(**preset.distill).validate()  # known fields, valid values
        assert not any(isinstance(m, LUTLayer) for m in model.modules())
        return
    luts = [m for m in model.modules() if isinstance(m, LUTLayer)]
    assert luts[0].learned is not None and luts[0].input_grad == "efd"
    assert luts[-1].out_features % classes == 0


def test_cli_preset_with_overrides(tiny_npz, tmp_path, monkeypatch, capsys) -> None:
    """A preset fills model and settings; --epochs and --config override it."""
    import lutnn.presets as presets

    tiny = presets._lut_mlp([30, 15], 7, "test")
    monkeypatch.setitem(presets.PRESETS, "tiny", tiny)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"layers": [24, 12]}))
    out = tmp_path / "run"
    code = main(["train", "--preset", "tiny", "--out", str(out), "--epochs", "1", "--config",
                 str(cfg), "--data", str(tiny_npz), "--val-size", "50"])
    assert code == 0
    record = json.loads((out / "run.json").read_text())
    assert record["model"] == "lut-mlp"
    assert record["config"]["layers"] == [24, 12] and record["config"]["learned_wiring"] == 1
    assert record["train"]["epochs"] == 1
    code = main(["train", "--preset", "nope", "--out", str(tmp_path / "r2")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown preset 'nope'" in err and err.count("\n") == 1
    code = main(["train", "--out", str(tmp_path / "r3")])
    assert code == 2 and "--model NAME or --preset NAME" in capsys.readouterr().err


#: DWN's MNIST example as its repository writes it (examples/mnist.py, ../shared/ANCHORS.md):
#: the oracle the preset is checked against, field by field
DWN_RECIPE_CONFIG = {
    "encoder": "distributive",  # dwn.DistributiveThermometer(3): quantile thresholds
    "levels": 3,  # 3 thresholds per pixel: 784 x 3 = 2,352 bits
    "layers": (2000, 1000),  # LUTLayer(2352, 2000), LUTLayer(2000, 1000)
    "k": 6,  # n=6
    "learned_wiring": 1,  # mapping='learnable' in the first layer only
    "candidates": 0,  # every input bit is a candidate of every slot
    "input_grad": "efd",  # the EFD kernel
    "tau": 1 / 0.3,  # GroupSum(k=10, tau=1/0.3)
    "table_rule": "dwn",  # luts uniform(-1, 1), clamped to [-1, 1], identity STE
    "bn": False,
}
DWN_RECIPE_TRAIN = {"epochs": 30, "batch_size": 32, "lr": 1e-2, "schedule": "step",
                    "step_epochs": 14, "step_gamma": 0.1, "shift": 0, "weight_decay": 0.0}


def test_dwn_mnist_preset_is_dwns_recipe_field_by_field() -> None:
    from lutnn.data.encodings import DistributiveThermometer
    from lutnn.nn.binary import GroupSum
    from lutnn.training.loop import FitConfig, step_lr

    preset = PRESETS["dwn-mnist"]
    assert preset.model == "lut-mlp"
    cfg = make_config(preset.model, preset.config)
    for key, want in DWN_RECIPE_CONFIG.items():
        assert getattr(cfg, key) == want, key
    train_cfg = TrainConfig(**preset.train)
    for key, want in DWN_RECIPE_TRAIN.items():
        assert getattr(train_cfg, key) == want, key
    fit_cfg = FitConfig(
        epochs=30, batch_size=32, lr=train_cfg.lr, schedule=train_cfg.schedule,
        step_epochs=train_cfg.step_epochs, step_gamma=train_cfg.step_gamma)
    # StepLR(step_size=14, gamma=0.1) stepped once per epoch: epoch e (from 0) at 0.1^(e//14)
    assert [f"{step_lr(fit_cfg, 1, e):g}" for e in (0, 13, 14, 27, 28, 29)] == [
        "0.01", "0.01", "0.001", "0.001", "0.0001", "0.0001"]
    model = build_model(preset.model, cfg, (1, 28, 28), 10)
    enc, luts = model[0], [m for m in model.modules() if isinstance(m, LUTLayer)]
    assert isinstance(enc, DistributiveThermometer) and enc.num_thresholds == 3
    assert [(m.in_features, m.out_features, m.k) for m in luts] == [(2352, 2000, 6),
                                                                  (2000, 1000, 6)]
    assert luts[0].learned is not None and luts[0].learned.candidates.numel() == 0
    assert luts[1].learned is None
    assert all(m.input_grad == "efd" and m.table_rule == "dwn" and m.bn is None for m in luts)
    head = model[-1]
    assert isinstance(head, GroupSum) and head.num_classes == 10 and head.tau == 1 / 0.3


def test_distributive_thresholds_are_dwns() -> None:
    """lutnn's distributive thermometer gives DWN's bits: ``x > sorted_x[int(n*i/(T+1))]`` per
    pixel (DWN's ``DistributiveThermometer.get_thresholds``, feature-wise), in lutnn's
    channel-major bit order (DWN's is pixel-major: a permutation, which wiring absorbs)."""
    import numpy as np
    import torch

    from lutnn.data.encodings import DistributiveThermometer

    rng = np.random.default_rng(1)
    x_train = (rng.integers(0, 256, (101, 1, 4, 5)) * (rng.random((101, 1, 4, 5)) < 0.6)
               ).astype(np.uint8)  # many zeros, as MNIST's borders
    x_train[:, 0, 0, 0] = 0  # a pixel that is always 0
    enc = DistributiveThermometer((1, 4, 5), levels=3).fit(x_train)
    flat = x_train.reshape(101, 20).astype(np.float64)
    data = np.sort(flat, axis=0)
    idx = [int(101 * i / 4) for i in range(1, 4)]
    thresholds = data[idx].T  # (20, 3), DWN: x > threshold
    x = rng.integers(0, 256, (7, 1, 4, 5)).astype(np.uint8)
    dwn = x.reshape(7, 20, 1) > thresholds  # (B, pixel, T)
    ours = enc(torch.from_numpy(x).float()).numpy().reshape(7, 3, 20)  # (B, T, pixel)
    np.testing.assert_array_equal(ours.transpose(0, 2, 1), dwn.astype(np.float32))

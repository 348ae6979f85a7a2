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

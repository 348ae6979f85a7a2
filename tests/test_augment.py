"""Training-time translation of images (``--shift``): the move itself against a loop oracle,
its determinism, and what a run records and refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lutnn.train as train_mod
from lutnn.cli import main
from lutnn.data.augment import epoch_shifts, translate
from lutnn.errors import LutnnError
from lutnn.train import TrainConfig, train


def _translate_by_loops(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    b, c, h, w = x.shape
    for i in range(b):
        dy, dx = shifts[i]
        for r in range(h):
            for q in range(w):
                if 0 <= r - dy < h and 0 <= q - dx < w:
                    out[i, :, r, q] = x[i, :, r - dy, q - dx]
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 3), st.integers(1, 7), st.integers(1, 7),
       st.integers(0, 3), st.integers(0, 2**31 - 1))
def test_translate_equals_the_loop_definition(b, c, h, w, s, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (b, c, h, w)).astype(np.float32)
    shifts = rng.integers(-s, s + 1, (b, 2))
    got = translate(torch.from_numpy(x), torch.from_numpy(shifts)).numpy()
    np.testing.assert_array_equal(got, _translate_by_loops(x, shifts))


def test_epoch_shifts_are_seeded_in_range_and_change_by_epoch():
    a, again = epoch_shifts(500, 2, seed=3, epoch=1), epoch_shifts(500, 2, seed=3, epoch=1)
    torch.testing.assert_close(a, again, rtol=0, atol=0)
    assert a.shape == (500, 2) and int(a.min()) == -2 and int(a.max()) == 2
    assert not torch.equal(a, epoch_shifts(500, 2, seed=3, epoch=2))
    assert not torch.equal(a, epoch_shifts(500, 2, seed=4, epoch=1))


TINY = {"hidden": [16], "group_size": 4, "levels": 2}
CFG = TrainConfig(epochs=2, batch_size=32, val_size=60, eval_batch_size=100, shift=1)


def test_shifted_training_moves_the_batches_resumes_exactly_and_is_recorded(
        tiny_npz, tmp_path, interrupt_second_epoch):
    common = dict(model_overrides=TINY, data=str(tiny_npz), log=lambda _: None)
    train("teacher-mlp", tmp_path / "shifted", train_cfg=CFG, **common)
    train("teacher-mlp", tmp_path / "plain",
          train_cfg=TrainConfig(**{**CFG.__dict__, "shift": 0}), **common)
    shifted = torch.load(tmp_path / "shifted" / "model.pt", weights_only=True)
    plain = torch.load(tmp_path / "plain" / "model.pt", weights_only=True)
    assert any(not torch.equal(shifted[k], plain[k]) for k in shifted)  # the shift took part

    interrupt_second_epoch()
    with pytest.raises(KeyboardInterrupt):
        train("teacher-mlp", tmp_path / "split", train_cfg=CFG, **common)
    interrupt_second_epoch(False)
    train("teacher-mlp", tmp_path / "split", train_cfg=CFG, resume=True, **common)
    split = torch.load(tmp_path / "split" / "model.pt", weights_only=True)
    for key in shifted:
        torch.testing.assert_close(shifted[key], split[key], rtol=0, atol=0)
    record = train_mod.io.read_json(tmp_path / "shifted" / "run.json")
    assert record["train"]["shift"] == 1
    with pytest.raises(LutnnError, match="another model, config or data"):  # shift is recorded
        train("teacher-mlp", tmp_path / "shifted", resume=True,
              train_cfg=TrainConfig(**{**CFG.__dict__, "shift": 2}), **common)


def test_resume_accepts_a_record_from_before_a_field_existed(tiny_npz, tmp_path):
    common = dict(model_overrides=TINY, data=str(tiny_npz), log=lambda _: None)
    cfg = TrainConfig(**{**CFG.__dict__, "shift": 0, "epochs": 1})
    train("teacher-mlp", tmp_path, train_cfg=cfg, **common)
    record = train_mod.io.read_json(tmp_path / "run.json")
    del record["train"]["shift"], record["config"]["width"]  # an older lutnn's record
    train_mod.io.write_json(tmp_path / "run.json", record)
    again = train("teacher-mlp", tmp_path, resume=True, train_cfg=cfg, **common)
    assert again["epochs"] == 1


def test_shift_refused_on_tables_and_below_zero(tmp_path, capsys):
    rng = np.random.default_rng(0)
    table = tmp_path / "t.csv"
    rows = [",".join(f"{v:.3f}" for v in rng.normal(size=3)) + f",{i % 2}" for i in range(80)]
    table.write_text("a,b,c,y\n" + "\n".join(rows) + "\n")
    for shift, message in ((1, "moves images; this data is a table"), (-1, "must be >= 0")):
        code = main(["train", "--model", "lut-mlp", "--data", str(table), "--val-size", "10",
                     "--shift", str(shift), "--epochs", "1", "--out", str(tmp_path / f"r{shift}")])
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not (tmp_path / f"r{shift}").exists()

"""Training: resume after an interrupt, run-folder contents, and every bad input's message."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import lutnn.train as train_mod
import lutnn.training.loop as loop
from lutnn.cli import main
from lutnn.errors import LutnnError
from lutnn.train import TrainConfig, load_run, train

TINY = {"hidden": [16], "group_size": 4, "levels": 2}
CFG = TrainConfig(epochs=2, batch_size=32, val_size=60, eval_batch_size=100)


def test_train_writes_run_folder_and_learns(tiny_npz, tmp_path):
    metrics = train("teacher-mlp", tmp_path, model_overrides=TINY, train_cfg=CFG,
                    data=str(tiny_npz), log=lambda _: None)
    for name in ("run.json", "checkpoint.pt", "model.pt", "metrics.json"):
        assert (tmp_path / name).is_file()
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("val_accuracy", "test_accuracy", "epochs", "seconds", "params"):
        assert key in on_disk
    assert on_disk["epochs"] == 2
    assert metrics["test_accuracy"] > 0.8  # chance is 1/3
    model, record = load_run(tmp_path)
    assert record["model"] == "teacher-mlp" and not model.training
    x = np.load(tiny_npz)["x_test"][:, None]
    assert (train_mod.predict(model, x) == np.load(tiny_npz)["y_test"]).mean() == pytest.approx(
        metrics["test_accuracy"]
    )


def test_resume_after_interrupt_equals_uninterrupted(tiny_npz, tmp_path, interrupt_second_epoch):
    common = dict(model_overrides=TINY, train_cfg=CFG, data=str(tiny_npz), log=lambda _: None)
    train("teacher-mlp", tmp_path / "whole", **common)

    interrupt_second_epoch()
    with pytest.raises(KeyboardInterrupt):
        train("teacher-mlp", tmp_path / "split", **common)
    assert not (tmp_path / "split" / "metrics.json").exists()  # nothing half-done published
    interrupt_second_epoch(False)
    train("teacher-mlp", tmp_path / "split", resume=True, **common)

    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)
    split = torch.load(tmp_path / "split" / "model.pt", weights_only=True)
    for key in whole:
        torch.testing.assert_close(whole[key], split[key], rtol=0, atol=0)


def test_existing_run_needs_resume(tiny_npz, tmp_path):
    train("teacher-mlp", tmp_path, model_overrides=TINY, train_cfg=CFG, data=str(tiny_npz),
          log=lambda _: None)
    with pytest.raises(LutnnError, match="already holds a run; pass --resume"):
        train("teacher-mlp", tmp_path, model_overrides=TINY, train_cfg=CFG, data=str(tiny_npz))
    with pytest.raises(LutnnError, match="written for another model, config or data"):
        train("teacher-mlp", tmp_path, model_overrides={**TINY, "hidden": [8]}, train_cfg=CFG,
              data=str(tiny_npz), resume=True)


def test_finished_run_without_checkpoint_is_not_overwritten(tiny_npz, tmp_path):
    """Deleting checkpoint.pt (to save space) leaves a finished run that a retrain without
    --resume must not replace (issue 10, item 2)."""
    common = dict(model_overrides=TINY, train_cfg=CFG, data=str(tiny_npz), log=lambda _: None)
    train("teacher-mlp", tmp_path, **common)
    (tmp_path / "checkpoint.pt").unlink()
    model = (tmp_path / "model.pt").read_bytes()
    with pytest.raises(LutnnError, match="already holds a run; pass --resume"):
        train("teacher-mlp", tmp_path, **common)
    assert (tmp_path / "model.pt").read_bytes() == model


def test_fit_is_the_loop_of_train(tiny_npz, tmp_path):
    """``fit`` on a model built like ``train``'s gives the same weights (one loop for train
    and fine-tuning); ``initial_best`` keeps the given weights unless an epoch beats them."""
    from lutnn.data import load_dataset
    from lutnn.models import build_model, make_config

    train("teacher-mlp", tmp_path / "run", model_overrides=TINY, train_cfg=CFG,
          data=str(tiny_npz), log=lambda _: None)
    ds = load_dataset(str(tiny_npz), val_size=CFG.val_size, seed=CFG.seed)
    cfg = train_mod.FitConfig(epochs=CFG.epochs, batch_size=CFG.batch_size, lr=1e-3,
                              eval_batch_size=CFG.eval_batch_size)

    def fresh():
        torch.manual_seed(0)
        return build_model("teacher-mlp", make_config("teacher-mlp", TINY), (1, 8, 8), 3)

    model = fresh()
    result = train_mod.fit(model, model.parameters(), ds, cfg, tmp_path / "a.pt",
                           log=lambda _: None)
    assert result.epochs == 2 and [h["epoch"] for h in result.history] == [1, 2]
    want = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, want[key], rtol=0, atol=0)
    model = fresh()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    train_mod.fit(model, model.parameters(), ds, cfg, tmp_path / "b.pt",
                  initial_best=(1.1, start), log=lambda _: None)  # no epoch beats 1.1
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, start[key], rtol=0, atol=0)


def test_micro_batches_take_the_same_steps(tiny_npz, tmp_path):
    """Gradients accumulated over micro-batches give the whole batch's step (up to float
    rounding) on a LUT-Net, which has no batch statistics."""
    from lutnn.data import load_dataset
    from lutnn.models import build_model, make_config

    ds = load_dataset(str(tiny_npz), val_size=CFG.val_size, seed=CFG.seed)
    states = []
    for micro in (0, 7):
        torch.manual_seed(0)
        model = build_model("lut-mlp", make_config("lut-mlp", {"layers": [30, 12], "levels": 2}),
                            (1, 8, 8), 3)
        cfg = train_mod.FitConfig(epochs=1, batch_size=32, lr=1e-2, micro_batch_size=micro)
        train_mod.fit(model, model.parameters(), ds, cfg, tmp_path / f"{micro}.pt",
                      log=lambda _: None)
        states.append(model.state_dict())
    for key, value in states[0].items():
        torch.testing.assert_close(value, states[1][key], rtol=0, atol=1e-5)


def test_corrupt_checkpoint_is_a_clear_error(tiny_npz, tmp_path):
    train("teacher-mlp", tmp_path, model_overrides=TINY, train_cfg=CFG, data=str(tiny_npz),
          log=lambda _: None)
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00garbage")
    with pytest.raises(LutnnError, match="checkpoint .* is corrupt .*delete it"):
        train("teacher-mlp", tmp_path, model_overrides=TINY, train_cfg=CFG, data=str(tiny_npz),
              resume=True)
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(LutnnError, match="is corrupt"):
        load_run(tmp_path)


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_cli_train_success_and_exit_code(tiny_npz, tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(TINY))
    code = main(["train", "--model", "teacher-mlp", "--out", str(tmp_path / "run"), "--epochs",
                 "1", "--data", str(tiny_npz), "--config", str(cfg), "--val-size", "60"])
    assert code == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 1


@pytest.mark.parametrize(
    "setup,argv_tail,message",
    [
        (None, ["--model", "teacher-xyz"], "unknown model 'teacher-xyz'; choose one of: "),
        ("{not json", ["--model", "teacher-mlp"], "is not valid JSON"),
        ('{"hidden": "wide"}', ["--model", "teacher-mlp"], "config field 'hidden'"),
        ('{"depth": 3}', ["--model", "teacher-mlp"], "unknown config field(s) depth"),
        ("[1, 2]", ["--model", "teacher-mlp"], "must hold a JSON object"),
    ],
)
def test_cli_user_errors_exit_2_with_one_line(tiny_npz, tmp_path, capsys, setup, argv_tail,
                                             message):
    argv = ["train", "--out", str(tmp_path / "run"), "--data", str(tiny_npz), *argv_tail]
    if setup is not None:
        (tmp_path / "cfg.json").write_text(setup)
        argv += ["--config", str(tmp_path / "cfg.json")]
    code, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_cli_missing_and_corrupt_data(tmp_path, capsys):
    code, err = run_cli(capsys, "train", "--model", "teacher-mlp", "--out", str(tmp_path / "r"),
                        "--data", str(tmp_path / "nowhere.npz"))
    assert code == 2 and "nowhere.npz" in err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04broken")
    code, err = run_cli(capsys, "train", "--model", "teacher-mlp", "--out", str(tmp_path / "r"),
                        "--data", str(bad))
    assert code == 2 and "bad.npz" in err and "Traceback" not in err


def test_step_schedule_lr_per_step_by_hand():
    """The "step" schedule: lr 1e-2 for 2 epochs, times 0.5 after every 2 epochs, stepped per
    batch (3 batches per epoch); the lr of every step equals the hand computation."""
    cfg = loop.FitConfig(epochs=7, batch_size=4, lr=1e-2, schedule="step",
                              step_epochs=2, step_gamma=0.5)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=cfg.lr)
    schedule = loop._make_schedule(optimizer, cfg, 3)
    seen = []
    for _ in range(21):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    hand = [0.01] * 6 + [0.005] * 6 + [0.0025] * 6 + [0.00125] * 3
    assert seen == hand
    assert [loop.step_lr(cfg, 3, s) for s in range(21)] == hand
    for bad, match in (({"step_epochs": 0}, "step_epochs >= 1"),
                       ({"step_epochs": 2, "step_gamma": 1.5}, "0 < step_gamma <= 1")):
        with pytest.raises(LutnnError, match=match):
            loop._make_schedule(optimizer, loop.FitConfig(
                epochs=1, batch_size=4, lr=1e-2, schedule="step", **bad), 3)
    with pytest.raises(LutnnError, match="unknown schedule 'steps'"):
        loop._make_schedule(optimizer, loop.FitConfig(
            epochs=1, batch_size=4, lr=1e-2, schedule="steps"), 3)


def test_step_schedule_resumes_exactly(tiny_npz, tmp_path, interrupt_second_epoch):
    """A LUT-Net on the step schedule killed in epoch 2 and resumed ends with the weights of an
    uninterrupted run, and its optimizer at the lr the schedule gives for its last step."""
    cfg = TrainConfig(epochs=3, batch_size=32, val_size=60, eval_batch_size=100, lr=1e-2,
                      schedule="step", step_epochs=1, step_gamma=0.1)
    common = dict(model_overrides={"layers": [24, 12], "levels": 2, "table_rule": "dwn"},
                  train_cfg=cfg, data=str(tiny_npz), log=lambda _: None)
    train("lut-mlp", tmp_path / "whole", **common)
    interrupt_second_epoch()
    with pytest.raises(KeyboardInterrupt):
        train("lut-mlp", tmp_path / "split", **common)
    interrupt_second_epoch(False)
    train("lut-mlp", tmp_path / "split", resume=True, **common)
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)
    split = torch.load(tmp_path / "split" / "model.pt", weights_only=True)
    for key in whole:
        torch.testing.assert_close(whole[key], split[key], rtol=0, atol=0)
    record = json.loads((tmp_path / "split" / "run.json").read_text())
    assert record["train"]["schedule"] == "step" and record["train"]["step_epochs"] == 1
    ckpt = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    steps = -(-340 // 32)  # 400 training images less 60 for validation, batch 32
    fit_cfg = loop.FitConfig(epochs=3, batch_size=32, lr=1e-2, schedule="step",
                                  step_epochs=1, step_gamma=0.1)
    # the lr after the last step: the schedule has stepped 3 * steps times
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == loop.step_lr(
        fit_cfg, steps, 3 * steps)

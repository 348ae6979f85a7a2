"""Model configs: ranges are checked, and a saved config builds the same model again."""

from __future__ import annotations

import math

import pytest

from lutnn.errors import LutnnError
from lutnn.models import build_model, config_to_dict, make_config


@pytest.mark.parametrize(
    "override, message",
    [
        ({"tau": 0}, "finite number > 0"),
        ({"tau": math.nan}, "finite number > 0"),
        ({"tau": -3.0}, "finite number > 0"),
        ({"k": 0}, "int >= 1"),
        ({"candidates": -1}, "int >= 0"),
        ({"learned_wiring": True}, "int >= 0"),
    ],
)
def test_out_of_range_fields_are_user_errors(override, message) -> None:
    with pytest.raises(LutnnError, match=message):
        make_config("lut-mlp", override)


def test_learned_wiring_config_round_trips() -> None:
    cfg = make_config(
        "lut-mlp",
        {"layers": [60, 30], "learned_wiring": 1, "candidates": 0, "input_grad": "efd"},
    )
    again = make_config("lut-mlp", config_to_dict(cfg))
    assert again == cfg
    model = build_model("lut-mlp", again, (1, 4, 4), 3)
    first, second = model[2], model[3]
    assert first.learned is not None and second.learned is None
    assert first.input_grad == second.input_grad == "efd"

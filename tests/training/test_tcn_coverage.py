"""The TCN encoder sees the whole window: its dilations cover the lookback by default (issue 13, item 8).

The check is behavioural: change only the *first* row of a window and the model's output must
change. A TCN whose receptive field stops short of row 0 cannot tell the difference.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from features.config import ModelConfig
from features.errors import ConfigError
from training.checkpoints import model_from_checkpoint
from training.model import TCN_MAX_LEVELS, TradingModel, tcn_receptive_field

torch.set_num_threads(1)


def _first_row_moves_output(model: TradingModel, lookback: int) -> bool:
    model.eval()
    torch.manual_seed(1)
    x = torch.randn(3, lookback, model.feature_dim)  # (B, L, F)
    y = x.clone()
    y[:, 0] += 3.0  # only the oldest row of each window changes
    ids = torch.tensor([0, 1, 2])
    with torch.no_grad():
        return not torch.allclose(model(x, ids), model(y, ids), atol=1e-7, rtol=0)


def test_default_tcn_sees_the_first_row_of_the_default_window() -> None:
    cfg = ModelConfig(encoder="tcn")  # the project's defaults: layers = 1
    lookback = 60  # [loader] lookback's default
    torch.manual_seed(0)
    model = TradingModel.from_config(cfg, num_assets=4, feature_dim=3, lookback=lookback)
    assert model.encoder.receptive_field >= lookback
    assert _first_row_moves_output(model, lookback)


@settings(max_examples=25, deadline=None)
@given(lookback=st.integers(2, 300), layers=st.integers(1, 3))
def test_tcn_receptive_field_covers_any_lookback(lookback: int, layers: int) -> None:
    torch.manual_seed(lookback)
    model = TradingModel(4, 4, 2, encoder="tcn", hidden=8, layers=layers, dropout=0.0, lookback=lookback)
    field = model.encoder.receptive_field
    levels = len(model.encoder.convs)
    # the fewest levels that cover it (but at least `layers` and 2): independent arithmetic
    assert field == 1 + 2 * (2**levels - 1) >= lookback
    assert levels == max(layers, 2) or 1 + 2 * (2 ** (levels - 1) - 1) < lookback
    assert _first_row_moves_output(model, lookback)


def test_a_tcn_that_cannot_cover_the_lookback_is_refused_naming_the_numbers() -> None:
    with pytest.raises(ConfigError) as err:
        TradingModel(4, 4, 2, encoder="tcn", lookback=60, tcn_levels=2)
    text = str(err.value)
    assert "dilations 1, 2" in text and "last 7 rows" in text and "lookback = 60" in text
    too_long = tcn_receptive_field(TCN_MAX_LEVELS) + 1
    with pytest.raises(ConfigError, match=rf"lookback = {too_long}"):
        TradingModel(4, 4, 2, encoder="tcn", lookback=too_long)
    with pytest.raises(ConfigError, match="needs the window length"):
        TradingModel(4, 4, 2, encoder="tcn")


def test_a_checkpoint_from_before_the_sizing_rebuilds_its_own_tcn() -> None:
    """Old checkpoints hold a TCN of max(layers, 2) levels and no lookback: they still load, unchanged."""
    torch.manual_seed(0)
    old = TradingModel(4, 4, 2, encoder="tcn", hidden=4, tcn_levels=2)
    ckpt = {
        "model_kwargs": {
            "num_assets": 4,
            "asset_embedding_dim": 4,
            "feature_dim": 2,
            "encoder": "tcn",
            "combine": "concat",
            "task": "classification",
            "hidden": 4,
            "layers": 1,
            "dropout": 0.1,
        },
        "mapping_version": None,
        "best_state": None,
        "model_state": old.state_dict(),
    }
    again = model_from_checkpoint(ckpt)
    assert len(again.encoder.convs) == 2
    x = torch.randn(2, 9, 2)
    ids = torch.tensor([0, 3])
    old.eval()
    assert torch.equal(old(x, ids), again.eval()(x, ids))

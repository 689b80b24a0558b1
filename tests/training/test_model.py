"""TradingModel: shapes for every encoder × combine, the embedding contract, refusals."""

from __future__ import annotations

import pytest
import torch

from features.errors import ConfigError, TrainingError
from features.mapping import Entry, Event, replay
from training.model import _TCN, COMBINES, ENCODERS, TradingModel, check_num_embeddings

torch.set_num_threads(1)


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("combine", COMBINES)
def test_every_encoder_and_combine_maps_windows_to_one_output_per_sample(encoder: str, combine: str) -> None:
    torch.manual_seed(0)
    model = TradingModel(12, 8, 5, encoder=encoder, combine=combine, hidden=16, layers=2, lookback=9)
    x = torch.randn(7, 9, 5)  # (B, L, F)
    ids = torch.tensor([0, 1, 2, 3, 11, 11, 5])
    out = model(x, ids)
    assert out.shape == (7,)
    assert torch.isfinite(out).all()
    out.sum().backward()
    if combine == "none":
        assert model.embedding_weight() is None
        # no embedding: the asset ID cannot change the output
        model.eval()
        assert torch.equal(model(x, ids), model(x, torch.zeros_like(ids)))
    else:
        grad = model.embedding_weight().grad
        used = sorted(set(ids.tolist()))
        assert grad[used].abs().sum(dim=1).gt(0).all(), "every used row receives gradient"
        unused = [i for i in range(12) if i not in used]
        assert grad[unused].abs().sum() == 0, "rows of assets not in the batch stay untouched"


@pytest.mark.parametrize("combine", [c for c in COMBINES if c != "none"])
def test_the_asset_id_changes_the_prediction(combine: str) -> None:
    torch.manual_seed(1)
    model = TradingModel(4, 8, 3, combine=combine, hidden=8).eval()
    x = torch.randn(1, 6, 3).expand(4, 6, 3)  # the same window for four assets
    out = model(x, torch.arange(4))
    assert len(set(out.tolist())) == 4


def test_defaults_are_gru_concat_classification_with_dim_16() -> None:
    model = TradingModel(10, feature_dim=3)
    assert (model.embedding_dim, model.encoder_kind, model.combine, model.task) == (
        16,
        "gru",
        "concat",
        "classification",
    )
    assert isinstance(model.encoder, torch.nn.GRU)
    assert model.asset_embedding.weight.shape == (10, 16)


def test_bad_arguments_are_all_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        TradingModel(10, 64, 0, encoder="transformerz", combine="mul")
    text = str(err.value)
    for part in ("asset_embedding_dim must be in 4..32, got 64", "feature_dim", "transformerz", "mul"):
        assert part in text
    with pytest.raises(ConfigError, match=r"4\.\.32, got 3"):
        TradingModel(10, 3, 2)


def test_regression_loss_is_mse_and_classification_loss_is_bce() -> None:
    out, y = torch.tensor([0.5, -1.0]), torch.tensor([1.0, 0.0])
    reg = TradingModel(2, 4, 1, task="regression")
    assert reg.loss(out, y).item() == pytest.approx(((0.5 - 1) ** 2 + 1.0) / 2)
    cls = TradingModel(2, 4, 1)
    p = torch.sigmoid(out)
    expected = -(torch.log(p[0]) + torch.log(1 - p[1])) / 2
    assert cls.loss(out, y).item() == pytest.approx(expected.item(), rel=1e-6)


def test_tcn_is_causal() -> None:
    torch.manual_seed(0)
    tcn = _TCN(3, 8, levels=3, dropout=0.0).eval()
    x = torch.randn(2, 20, 3)
    y = x.clone()
    y[:, 12:] += 5.0  # change only the future of step 11
    a, b = tcn(x), tcn(y)  # (B, L, H)
    assert torch.allclose(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def _mapping():
    first = tuple(Entry(s, i, "sectors", "Technology") for i, s in enumerate(["AAA", "BBB", "CCC"]))
    added = (Entry("DDD", 3, "crypto", "Major"), Entry("EEE", 4, "crypto", "Major"))
    return replay(
        [
            Event("1.0", "initial", "2025-01-01T00:00:00Z", added=first),
            Event("1.1", "sync", "2025-02-01T00:00:00Z", added=added),
        ]
    )


def test_embedding_table_must_match_the_mapping_version() -> None:
    mapping = _mapping()
    check_num_embeddings(5, mapping)  # latest = 1.1 issues IDs 0..4
    check_num_embeddings(3, mapping, "1.0")
    with pytest.raises(TrainingError) as err:
        TradingModel(3, 8, 2, mapping=mapping, mapping_version="1.1")
    assert "3 rows" in str(err.value) and "1.1" in str(err.value) and "== 5" in str(err.value)
    assert "--init-from" in str(err.value)  # too few rows: grow the trained table
    with pytest.raises(TrainingError, match="later mapping version"):
        TradingModel(5, 8, 2, mapping=mapping, mapping_version="1.0")
    assert TradingModel(5, 8, 2, mapping=mapping, mapping_version="1.1").num_assets == 5

"""TradingModel: one network for every asset, with a learned per-asset embedding.

A sample is a window of feature rows for one asset plus that asset's integer ID::

    x          (B, L, F)  float32   L = lookback, F = features per row
    asset_ids  (B,)       int64     rows of nn.Embedding(num_assets, D)
    out        (B,)       float32   a logit (classification: label_up) or a forecast (regression: fwd_ret)

A sequence encoder (GRU by default, LSTM or a causal temporal convolution) reads the window; the
asset embedding joins it in one of five ways (``combine``):

* ``concat``    the embedding is appended to every timestep's features before the encoder;
* ``add``       the embedding, mapped to the encoder width, is added to a learned projection of the features;
* ``attention`` the embedding is the query of dot-product attention over the encoder's timesteps;
* ``separate``  the embedding goes through its own small MLP and joins the encoder output before the head;
* ``none``      no embedding at all (the ablation every other mode must beat).

``num_assets`` must equal ``max(asset_id) + 1`` of the asset-ID mapping version the model is trained
with (IDs are append-only, so that is every ID ever issued); :func:`check_num_embeddings` refuses a
mismatch, and ``mapping=`` / ``mapping_version=`` run it at construction.

The TCN's last step sees 1 + (k − 1)(2ⁿ − 1) rows with kernel k = 3 and dilations 1, 2, …, 2ⁿ⁻¹; the
constructor takes ``lookback`` and picks n (at least ``layers``) so that this covers the whole window
(n = 5 for the default 60 rows), and refuses, naming the numbers, levels that cannot.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from features.config import COMBINES, ENCODERS, TASKS
from features.errors import ConfigError, TrainingError

EMBEDDING_DIMS = (4, 32)  # inclusive range; train_embeddings stores vectors as FLOAT[32]


def check_num_embeddings(num_embeddings: int, mapping: Any, version: str | None = None) -> None:
    """Refuse an embedding table whose size differs from ``max(asset_id) + 1`` at ``version``.

    ``mapping`` is a :class:`features.mapping.AssetMapping` (its latest version, or ``version``).
    """
    if version is not None and version != mapping.version:
        mapping = mapping.at_version(version)
    expected = int(mapping.num_embeddings)
    if num_embeddings != expected:
        grow = num_embeddings < expected
        raise TrainingError(
            f"the model's embedding table has {num_embeddings} rows but asset-ID mapping version "
            f"{mapping.version} needs num_embeddings == max(asset_id) + 1 == {expected}",
            hint=(
                "symbols were added since this model was trained: grow it with `fstore train --init-from RUN`"
                if grow
                else "the model was built for a later mapping version; rebuild the warehouse (`fstore build`)"
            ),
        )


TCN_KERNEL = 3  # taps per causal convolution
TCN_MAX_LEVELS = 12  # dilations 1..2048: a receptive field of 8,191 rows with kernel 3


def tcn_receptive_field(levels: int, kernel: int = TCN_KERNEL) -> int:
    """Rows the last step of a TCN with dilations 1, 2, 4, …, 2**(levels - 1) sees: 1 + (k - 1)(2**levels - 1)."""
    return 1 + (kernel - 1) * (2**levels - 1)


def tcn_levels(layers: int, lookback: int | None, kernel: int = TCN_KERNEL) -> int:
    """Dilation levels of the TCN: at least ``layers`` (and 2), and as many as it takes for the last step
    to see the whole window of ``lookback`` rows. A lookback no TCN of ``TCN_MAX_LEVELS`` covers is a
    :class:`ConfigError` naming the numbers."""
    if lookback is None:
        raise ConfigError(
            "encoder 'tcn' needs the window length (lookback=) to size its dilations",
            hint="pass lookback= to TradingModel (fstore train does)",
        )
    levels = max(layers, 2)
    while tcn_receptive_field(levels, kernel) < lookback and levels < TCN_MAX_LEVELS:
        levels += 1
    check_tcn_covers(levels, lookback, kernel)
    return levels


def check_tcn_covers(levels: int, lookback: int, kernel: int = TCN_KERNEL) -> None:
    """Refuse a TCN whose last step cannot see every row of a ``lookback``-row window."""
    field = tcn_receptive_field(levels, kernel)
    if field < lookback:
        dilations = ", ".join(str(2**i) for i in range(levels))
        raise ConfigError(
            f"encoder 'tcn' with kernel {kernel} and dilations {dilations} sees the last {field} rows, "
            f"but a window has lookback = {lookback} rows: the first {lookback - field} would be ignored",
            hint=(
                f"use a lookback of at most {tcn_receptive_field(TCN_MAX_LEVELS, kernel)} rows"
                f" ({TCN_MAX_LEVELS} dilation levels at most), or encoder 'gru' / 'lstm'"
            ),
        )


class _TCN(nn.Module):
    """Causal dilated 1-D convolutions (dilation 1, 2, 4, …, one level each) with residual connections.

    ``levels`` is chosen by :func:`tcn_levels` so that the last step sees the whole window."""

    def __init__(
        self, in_dim: int, hidden: int, levels: int, dropout: float, kernel: int = TCN_KERNEL
    ) -> None:
        super().__init__()
        self.inp = nn.Conv1d(in_dim, hidden, 1)
        self.convs = nn.ModuleList(nn.Conv1d(hidden, hidden, kernel, dilation=2**i) for i in range(levels))
        self.pads = [(kernel - 1) * 2**i for i in range(levels)]
        self.receptive_field = tcn_receptive_field(levels, kernel)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.transpose(1, 2))  # (B, H, L): Conv1d wants channels first
        for conv, pad in zip(self.convs, self.pads, strict=True):
            # left padding only: step t sees steps <= t, never the future
            h = h + self.drop(torch.relu(conv(nn.functional.pad(h, (pad, 0)))))  # (B, H, L)
        return h.transpose(1, 2)  # (B, L, H)


def _check_arguments(
    num_assets: int,
    embedding_dim: int,
    feature_dim: int,
    encoder: str,
    combine: str,
    task: str,
    hidden: int,
    layers: int,
    dropout: float,
) -> None:
    """Every problem with TradingModel's arguments, in one ConfigError."""
    problems = []
    if num_assets < 1:
        problems.append(f"num_assets must be at least 1, got {num_assets}")
    if feature_dim < 1:
        problems.append(f"feature_dim must be at least 1, got {feature_dim}")
    lo, hi = EMBEDDING_DIMS
    if not lo <= embedding_dim <= hi:
        problems.append(f"asset_embedding_dim must be in {lo}..{hi}, got {embedding_dim}")
    for name, value, allowed in (
        ("encoder", encoder, ENCODERS),
        ("combine", combine, COMBINES),
        ("task", task, TASKS),
    ):
        if value not in allowed:
            problems.append(f"[model] {name} = {value!r}: choose one of {', '.join(allowed)}")
    if hidden < 1 or layers < 1 or not 0.0 <= dropout < 1.0:
        problems.append(
            f"need hidden >= 1, layers >= 1, 0 <= dropout < 1 (got {hidden}, {layers}, {dropout})"
        )
    if problems:
        raise ConfigError("; ".join(problems))


def _encoder(kind: str, in_dim: int, hidden: int, layers: int, dropout: float, levels: int) -> nn.Module:
    """The sequence encoder: a causal TCN of ``levels`` dilation levels, or a batch-first GRU / LSTM."""
    if kind == "tcn":
        return _TCN(in_dim, hidden, levels, dropout)
    rnn = nn.GRU if kind == "gru" else nn.LSTM
    return rnn(in_dim, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)


def _resolve_tcn_levels(encoder: str, layers: int, lookback: int | None, levels: int | None) -> int | None:
    """The TCN's dilation levels (None for the GRU / LSTM): ``levels`` as given (a checkpoint's), checked to
    cover ``lookback`` when it is known, else sized to cover it."""
    if encoder != "tcn":
        return None
    if levels is None:
        return tcn_levels(layers, lookback)
    if lookback is not None:
        check_tcn_covers(levels, lookback)
    return levels


class TradingModel(nn.Module):
    """Sequence encoder + per-asset embedding + one head; see the module docstring."""

    def __init__(
        self,
        num_assets: int,
        asset_embedding_dim: int = 16,
        feature_dim: int = 0,
        *,
        encoder: str = "gru",
        combine: str = "concat",
        task: str = "classification",
        hidden: int = 64,
        layers: int = 1,
        dropout: float = 0.1,
        lookback: int | None = None,
        tcn_levels: int | None = None,
        mapping: Any = None,
        mapping_version: str | None = None,
    ) -> None:
        super().__init__()
        _check_arguments(
            num_assets, asset_embedding_dim, feature_dim, encoder, combine, task, hidden, layers, dropout
        )
        if mapping is not None:
            check_num_embeddings(num_assets, mapping, mapping_version)
        self.lookback = lookback
        self.tcn_levels = _resolve_tcn_levels(encoder, layers, lookback, tcn_levels)
        self.num_assets = num_assets
        self.embedding_dim = asset_embedding_dim
        self.feature_dim = feature_dim
        self.encoder_kind = encoder
        self.combine = combine
        self.task = task
        self.mapping_version = mapping_version
        self.asset_embedding = nn.Embedding(num_assets, asset_embedding_dim) if combine != "none" else None
        if self.asset_embedding is not None:
            # small start (std 0.1, not N(0, 1)): what the rows learn, not their random draw,
            # then dominates their cosine similarities
            nn.init.normal_(self.asset_embedding.weight, std=0.1)
        # submodules are created in this order (embedding, input join, encoder, output join, head) so a
        # seed gives the same initial weights as it always has
        enc_in = self._build_input(asset_embedding_dim, hidden)
        self.encoder = _encoder(encoder, enc_in, hidden, layers, dropout, self.tcn_levels or 0)
        head_in = self._build_join(asset_embedding_dim, hidden)
        self.head = nn.Sequential(
            nn.Linear(head_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def _build_input(self, d: int, h: int) -> int:
        """Layers that join the embedding before the encoder (concat, add); returns the encoder's input width."""
        if self.combine == "concat":
            return self.feature_dim + d
        if self.combine == "add":
            self.feature_proj = nn.Linear(self.feature_dim, h)
            self.embed_proj = nn.Linear(d, h, bias=False)
            return h
        return self.feature_dim

    def _build_join(self, d: int, h: int) -> int:
        """Layers that join the embedding after the encoder (attention, separate); returns the head's input width."""
        if self.combine == "attention":
            self.query = nn.Linear(d, h)
            return 2 * h  # attended context + last step
        if self.combine == "separate":
            self.embed_mlp = nn.Sequential(nn.Linear(d, h), nn.GELU())
            return 2 * h
        return h

    @classmethod
    def from_config(
        cls,
        cfg: Any,
        *,
        num_assets: int,
        feature_dim: int,
        lookback: int | None = None,
        tcn_levels: int | None = None,
        mapping: Any = None,
        mapping_version: str | None = None,
    ) -> TradingModel:
        """Build from a :class:`features.config.ModelConfig` (or anything with the same fields) for windows
        of ``lookback`` rows (the TCN sizes its dilations by it; the GRU and LSTM read any length)."""
        return cls(
            num_assets,
            cfg.asset_embedding_dim,
            feature_dim,
            encoder=cfg.encoder,
            combine=cfg.combine,
            task=cfg.task,
            hidden=cfg.hidden,
            layers=cfg.layers,
            dropout=cfg.dropout,
            lookback=lookback,
            tcn_levels=tcn_levels,
            mapping=mapping,
            mapping_version=mapping_version,
        )

    def _encode(self, z: torch.Tensor) -> torch.Tensor:
        if isinstance(self.encoder, _TCN):
            return self.encoder(z)  # (B, L, H)
        out, _ = self.encoder(z)  # (B, L, H)
        return out

    def forward(self, x: torch.Tensor, asset_ids: torch.Tensor) -> torch.Tensor:
        # x: (B, L, F), asset_ids: (B,)
        b, length, _ = x.shape
        e = self.asset_embedding(asset_ids) if self.asset_embedding is not None else None  # (B, D)
        if self.combine == "concat":
            z = torch.cat([x, e[:, None, :].expand(b, length, -1)], dim=-1)  # (B, L, F + D)
        elif self.combine == "add":
            z = self.feature_proj(x) + self.embed_proj(e)[:, None, :]  # (B, L, H)
        else:
            z = x  # (B, L, F)
        out = self._encode(z)  # (B, L, H)
        last = out[:, -1]  # (B, H)
        if self.combine == "attention":
            q = self.query(e)  # (B, H)
            scores = torch.einsum("blh,bh->bl", out, q) / math.sqrt(out.shape[-1])  # (B, L)
            context = torch.einsum("bl,blh->bh", scores.softmax(dim=1), out)  # (B, H)
            last = torch.cat([context, last], dim=-1)  # (B, 2H)
        elif self.combine == "separate":
            last = torch.cat([last, self.embed_mlp(e)], dim=-1)  # (B, 2H)
        return self.head(last).squeeze(-1)  # (B,)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy on logits (classification) or mean squared error (regression)."""
        if self.task == "classification":
            return nn.functional.binary_cross_entropy_with_logits(out, y)
        return nn.functional.mse_loss(out, y)

    def embedding_weight(self) -> torch.Tensor | None:
        """The (num_assets, D) embedding table, or None for ``combine="none"``."""
        return None if self.asset_embedding is None else self.asset_embedding.weight

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


__all__ = [
    "COMBINES",
    "ENCODERS",
    "TASKS",
    "TCN_KERNEL",
    "TCN_MAX_LEVELS",
    "TradingModel",
    "check_num_embeddings",
    "check_tcn_covers",
    "tcn_levels",
    "tcn_receptive_field",
]

"""split_mask against a brute-force reference, over random calendars, horizons and embargoes."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from features.config import SplitsConfig
from training.splits import resolve_boundaries, split_mask

EPOCH = dt.date(1970, 1, 1)


def _brute_force(
    split: str, days_by_asset: list[list[int]], train_end: int, valid_end: int, h: int, e: int
) -> list[bool]:
    """Per row, written from the rules in words, one asset and one row at a time."""
    out = []
    for days in days_by_asset:
        after_train = [i for i, d in enumerate(days) if d > train_end]
        after_valid = [i for i, d in enumerate(days) if d > valid_end]
        first_valid_row = after_train[0] if after_train else len(days)
        first_test_row = after_valid[0] if after_valid else len(days)
        for i, d in enumerate(days):
            realised = days[i + h] if i + h < len(days) else None  # the date the label is known
            if split == "train":
                out.append(d <= train_end and realised is not None and realised <= train_end)
            elif split == "valid":
                out.append(
                    train_end < d <= valid_end
                    and i >= first_valid_row + e
                    and realised is not None
                    and realised <= valid_end
                )
            else:
                out.append(d > valid_end and i >= first_test_row + e)
    return out


@settings(max_examples=150, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    seed=st.integers(0, 10_000),
    h=st.integers(1, 4),
    embargo=st.integers(-1, 5),
    fracs=st.tuples(st.floats(0.05, 0.9), st.floats(0.05, 0.9)).filter(lambda t: abs(t[0] - t[1]) > 0.02),
)
def test_split_mask_matches_the_rules(lengths, seed, h, embargo, fracs) -> None:
    rng = np.random.default_rng(seed)
    days_by_asset = [
        sorted(rng.choice(np.arange(18000, 18120), size=n, replace=False).tolist()) for n in lengths
    ]
    days = np.array([d for ds in days_by_asset for d in ds], dtype=np.int32)
    seg_len = np.array(lengths)
    seg_start = np.r_[0, np.cumsum(seg_len)[:-1]]
    seg_of_row = np.repeat(np.arange(len(lengths)), seg_len)
    pos = np.arange(len(days)) - seg_start[seg_of_row]
    lo, hi = sorted(fracs)
    cfg = SplitsConfig(train_end=str(lo), valid_end=str(hi), embargo=embargo)
    first, last = EPOCH + dt.timedelta(int(days.min())), EPOCH + dt.timedelta(int(days.max()))
    if first == last:
        return
    span = (last - first).days  # a short calendar can round both fractions to one date: no split there
    assume(round(lo * span) != round(hi * span))
    b = resolve_boundaries(cfg, first, last, h)
    assert b.embargo == (h if embargo == -1 else embargo)
    t_end, v_end = (b.train_end - EPOCH).days, (b.valid_end - EPOCH).days
    masks = {}
    for split in ("train", "valid", "test"):
        masks[split] = split_mask(split, days, pos, seg_start, seg_of_row, b)
        expect = _brute_force(split, days_by_asset, t_end, v_end, h, b.embargo)
        np.testing.assert_array_equal(masks[split], np.array(expect, dtype=bool))
    assert not (masks["train"] & masks["valid"]).any() and not (masks["valid"] & masks["test"]).any()

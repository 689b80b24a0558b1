-- One row per (asset_id, ts): ids, then every feature (DOUBLE), then the labels.
-- Convention the loader relies on: columns after asset_id, symbol, ts are features unless their
-- name starts with fwd_ret_ or label_ (labels). The view training_features lists the features.
-- Rows come from price_features (one per stg_prices row); the symbol from dim_symbol, which is
-- cheaper than joining stg_prices again. Unordered: readers order by asset_id, ts.
-- Incremental per asset: a new day adds its rows and rewrites each asset's last h rows, whose labels
-- just became known (the lookahead of `labels`, chained).
-- materialized: incremental
-- unique_key: asset_id, ts
-- time_column: ts
-- partition_by: asset_id
-- tags: training
-- description: features and labels joined for training; feature list in training_features
-- test: not_null(asset_id, symbol, ts)
-- test: unique(asset_id, ts)
-- test: relationships(asset_id, dim_symbol.asset_id)
-- test: accepted_values(label_up, 0, 1)
select
    f.asset_id,
    d.symbol,
    f.ts,
    f.ret_1d::double as ret_1d,
    f.ret_5d::double as ret_5d,
    f.ret_20d::double as ret_20d,
    f.vol_20::double as vol_20,
    f.sma_ratio_20::double as sma_ratio_20,
    f.rsi_14::double as rsi_14,
    f.volume_z_20::double as volume_z_20,
    f.hl_range::double as hl_range,
    m.ppo::double as ppo,
    m.ppo_signal::double as ppo_signal,
    c.ret_1d_cs_rank::double as ret_1d_cs_rank,
    l.* exclude (asset_id, ts)
from price_features f
join dim_symbol d on d.asset_id = f.asset_id
join cs_features c on c.asset_id = f.asset_id and c.ts = f.ts
join macd_features m on m.asset_id = f.asset_id and m.ts = f.ts
join labels l on l.asset_id = f.asset_id and l.ts = f.ts

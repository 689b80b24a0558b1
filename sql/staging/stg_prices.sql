-- Daily bars with their asset ID: raw_prices joined to the asset-ID dimension.
-- Refreshed incrementally, a build appends the days newer than the last one. No partition_by: the
-- new rows are those after the latest day built (a restated, late or deleted raw row changes the
-- hash fstore keeps of raw_prices, and then this and everything built from it is rebuilt in full).
-- materialized: incremental
-- unique_key: asset_id, ts
-- time_column: ts
-- tags: staging
-- description: raw_prices with asset_id from dim_symbol; one row per (asset_id, ts)
-- test: not_null(asset_id, symbol, ts, close)
-- test: unique(asset_id, ts)
-- test: relationships(asset_id, dim_symbol.asset_id)
select
    d.asset_id::integer as asset_id,
    p.symbol,
    p.ts,
    p.open,
    p.high,
    p.low,
    p.close,
    p.volume
from raw_prices p
join dim_symbol d on d.symbol = p.symbol

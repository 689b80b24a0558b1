-- Daily bars with their asset ID: raw_prices joined to the asset-ID dimension.
-- materialized: table
-- unique_key: asset_id, ts
-- time_column: ts
-- partition_by: asset_id
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

-- An example model: one SELECT per file; the file name is the model's name.
-- Dependencies (raw_prices, dim_symbol) are found by parsing the SQL: no ref() needed.
-- materialized: table
-- unique_key: asset_id, ts
-- test: not_null(asset_id, ts)
-- test: unique(asset_id, ts)
select
    d.asset_id,
    p.symbol,
    p.ts,
    p.close,
    ln(p.close / lag(p.close) over (partition by p.symbol order by p.ts)) as ret_1d
from raw_prices p
join dim_symbol d on d.symbol = p.symbol

-- Cross-sectional features: where an asset stands among all assets on the same date.
-- Refreshed incrementally. The rank is partitioned by ts, so a new date touches only that date
-- (fstore derives a lookback of 0 from `partition by ts`); no partition_by: new rows = new dates.
-- materialized: incremental
-- unique_key: asset_id, ts
-- time_column: ts
-- tags: features
-- description: ret_1d_cs_rank = percent rank of ret_1d among assets with a value that date
-- test: not_null(asset_id, ts)
-- test: unique(asset_id, ts)
-- test: accepted_range(ret_1d_cs_rank, 0, 1)
select
    asset_id,
    ts,
    case
        when ret_1d is not null
            then percent_rank() over (partition by ts, ret_1d is null order by ret_1d)
    end as ret_1d_cs_rank
from price_features

-- Cross-sectional features: where an asset stands among the assets of its calendar group on a date.
-- Calendar groups keep markets that trade on different days apart: each category named in
-- `[features] calendar_groups` (default "crypto", which trades every day) is ranked on its own, every
-- other category (stocks and ETFs: weekdays) together. Without them crypto would be ranked alone on
-- weekends and holidays, and a Monday would rank equities' 3-day returns among crypto's 1-day ones.
-- Refreshed incrementally. The rank is partitioned by ts, so a new date touches only that date
-- (fstore derives a lookback of 0 from `partition by ts`); no partition_by: new rows = new dates.
-- materialized: incremental
-- unique_key: asset_id, ts
-- time_column: ts
-- tags: features
-- description: ret_1d_cs_rank = percent rank of ret_1d among the assets of its calendar group with a value that date
-- test: not_null(asset_id, ts)
-- test: unique(asset_id, ts)
-- test: accepted_range(ret_1d_cs_rank, 0, 1)
with grouped as (
    select
        f.asset_id,
        f.ts,
        f.ret_1d,
        -- a listed category is its own group; '' holds every category not listed
        case
            when instr(
                ',' || lower(replace(p.calendar_groups, ' ', '')) || ',',
                ',' || lower(d.category) || ','
            ) > 0
                then lower(d.category)
            else ''
        end as calendar_group
    from price_features f
    join dim_symbol d on d.asset_id = f.asset_id
    cross join feature_params p
)
select
    asset_id,
    ts,
    case
        when ret_1d is not null
            then percent_rank() over (partition by ts, calendar_group, ret_1d is null order by ret_1d)
    end as ret_1d_cs_rank
from grouped

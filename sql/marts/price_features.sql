-- Windowed per-asset price features. Every window runs over the asset's own rows ordered by ts,
-- so a crypto window counts calendar days and an equity window counts trading days.
-- Refreshed incrementally, re-reading the 39 rows per asset its stacked windows need (derived from
-- the SQL, a LAG of 20 under 20-row windows, as `fstore ls` shows);
-- restated prices are detected upstream and rebuild it in full.
-- materialized: incremental
-- unique_key: asset_id, ts
-- time_column: ts
-- partition_by: asset_id
-- tags: features
-- description: ret_1d/5d/20d, vol_20, sma_ratio_20, rsi_14, volume_z_20, hl_range
-- test: not_null(asset_id, ts)
-- test: unique(asset_id, ts)
-- test: accepted_range(rsi_14, 0, 100)
-- test: accepted_range(vol_20, 0, 10)
-- test: warn accepted_range(hl_range, 0, 1)
with changes as (
    select
        asset_id,
        ts,
        close,
        high,
        low,
        volume,
        ln(close / lag(close, 1) over w) as ret_1d,
        ln(close / lag(close, 5) over w) as ret_5d,
        ln(close / lag(close, 20) over w) as ret_20d,
        close - lag(close, 1) over w as delta,
        -- close is never NULL (ingestion rejects such rows), so "k earlier rows exist" is a lag test
        lag(close, 14) over w is not null as has_14_changes,
        lag(close, 19) over w is not null as has_20_rows
    from stg_prices
    window w as (partition by asset_id order by ts)
),
moves as (
    select
        *,
        case when delta > 0 then delta when delta is not null then 0.0 end as gain,
        case when delta < 0 then -delta when delta is not null then 0.0 end as loss
    from changes
),
windowed as (
    select
        asset_id,
        ts,
        close,
        high,
        low,
        volume,
        ret_1d,
        ret_5d,
        ret_20d,
        has_14_changes,
        has_20_rows,
        stddev_samp(ret_1d) over w20 as sd_ret_20,
        avg(close) over w20 as mean_close_20,
        -- clamped at 0 against rounding in the sliding-window sums
        greatest(sum(gain) over w14, 0.0) as gain_14,
        greatest(sum(loss) over w14, 0.0) as loss_14,
        count(volume) over w20 as n_volume_20,
        avg(volume) over w20 as mean_volume_20,
        stddev_samp(volume) over w20 as sd_volume_20
    from moves
    window
        w14 as (partition by asset_id order by ts rows between 13 preceding and current row),
        w20 as (partition by asset_id order by ts rows between 19 preceding and current row)
)
select
    asset_id,
    ts,
    ret_1d,
    ret_5d,
    ret_20d,
    -- 20 returns need 21 rows, exactly when ret_20d exists
    case when ret_20d is not null then sd_ret_20 end as vol_20,
    case when has_20_rows then close / mean_close_20 - 1.0 end as sma_ratio_20,
    case
        when not has_14_changes then null
        when gain_14 + loss_14 = 0 then 50.0
        else 100.0 * (gain_14 / (gain_14 + loss_14))
    end as rsi_14,
    case
        when volume is not null and n_volume_20 = 20 and sd_volume_20 > 0
            then (volume - mean_volume_20) / sd_volume_20
    end as volume_z_20,
    (high - low) / close as hl_range
from windowed

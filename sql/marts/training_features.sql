-- The feature columns of training_set in order: position = index on the loader's feature axis.
-- Read from the catalog, so a feature added to training_set appears here without editing a list.
-- materialized: view
-- tags: training
-- description: (position, feature, data_type) of every feature column of training_set
select
    (row_number() over (order by column_index) - 1)::integer as position,
    column_name as feature,
    data_type
from duckdb_columns()
where
    table_name = 'training_set'
    and schema_name = current_schema()
    and database_name = current_database()
    and column_name not in ('asset_id', 'symbol', 'ts')
    and not starts_with(column_name, 'fwd_ret_')
    and not starts_with(column_name, 'label_')

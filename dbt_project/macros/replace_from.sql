{#- Custom incremental strategy 'replace_from' for tables rebuilt from a point in an ordered column
    onwards (the month spine and the monthly RFM history).

    unique_key names that column (e.g. month_start). The run's new rows replace every existing row
    whose key is at or after the smallest key among the new rows: rows that no longer exist in the
    recomputed range (months after a reference month that moved back, customers merged away) are
    deleted with it, which delete+insert on a row key cannot do. A run without new rows changes
    nothing. The model must therefore emit every row of its range, from its first key onwards.

    DuckDB and PostgreSQL run it as one delete and one insert in the model's transaction; on Spark
    (Parquet, no DELETE) these models are plain tables. -#}
{% macro get_incremental_replace_from_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set column = arg_dict['unique_key'] -%}
    {%- if not column or column is not string -%}
        {%- do exceptions.raise_compiler_error(
            "incremental_strategy 'replace_from' needs unique_key set to one ordered column (model "
            ~ target ~ ")"
        ) -%}
    {%- endif -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ column }} >= (select min(replaced_from.{{ column }}) from {{ source }} as replaced_from);
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{% endmacro %}

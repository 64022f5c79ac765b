{#- Incremental models on Spark without a transactional table format.

    The models keep incremental_strategy='delete+insert' on every adapter. dbt-spark offers
    append, insert_overwrite and microbatch on plain Parquet tables and MERGE only on Delta, Iceberg
    or Hudi, none of which is available offline in CI. So on Spark:

    - file_format delta / iceberg / hudi: delete+insert runs as dbt-spark's MERGE on unique_key;
    - other formats (parquet, the default): the table is rewritten in one SQL script
      (Spark 4 SQL scripting): kept rows (no new row with the same unique_key) plus the new rows
      into <model>__dbt_rewrite, INSERT OVERWRITE the model from it, drop it. Spark refuses to
      overwrite a table that the same statement reads, hence the intermediate table. Costs one
      rewrite of the table per run, like insert_overwrite on an unpartitioned table.

    These two macros override dbt-spark's (not dispatched) macros of the same name; every other
    strategy is passed to the originals. -#}

{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- if raw_strategy == 'delete+insert' -%}
        {%- do return('merge' if file_format in ['delta', 'iceberg', 'hudi'] else 'delete+insert') -%}
    {%- endif -%}
    {%- do return(dbt_spark.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) -%}
{% endmacro %}


{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) %}
    {%- if strategy == 'delete+insert' -%}
        {{ crm_spark_delete_insert_sql(source, target, unique_key, incremental_predicates) }}
    {%- else -%}
        {{ dbt_spark.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) }}
    {%- endif -%}
{% endmacro %}


{% macro crm_spark_delete_insert_sql(source, target, unique_key, incremental_predicates=none) %}
    {%- if not unique_key -%}
        {%- do exceptions.raise_compiler_error("delete+insert on Spark needs a unique_key (model " ~ target ~ ")") -%}
    {%- endif -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='quoted') | join(', ') -%}
    {%- set rewrite = target.incorporate(path={"identifier": target.identifier ~ '__dbt_rewrite'}) -%}
begin
    drop table if exists {{ rewrite }};
    create table {{ rewrite }} using parquet as
        select {{ columns }}
        from {{ target }} as DBT_INTERNAL_DEST
        where not (
            exists (
                select 1 from {{ source }} as DBT_INTERNAL_SOURCE
                where {% for key in keys %}DBT_INTERNAL_SOURCE.{{ key }} = DBT_INTERNAL_DEST.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
            )
            {%- for predicate in incremental_predicates or [] %}
            and {{ predicate }}
            {%- endfor %}
        )
        union all
        select {{ columns }} from {{ source }};
    insert overwrite table {{ target }} select {{ columns }} from {{ rewrite }};
    drop table {{ rewrite }};
end
{%- endmacro %}

{#- The snapshot materialization of dbt-spark 1.11 (dbt/include/spark/macros/materializations/
    snapshot.sql), with one change marked "crm": on a non-transactional file format (parquet, the
    default here; Delta / Iceberg / Hudi are not available offline in CI) the snapshot's MERGE is
    replaced by a rewrite of the table in one Spark 4 SQL script (crm_spark_snapshot_rewrite_sql):
    the same rows the MERGE would leave, computed into <snapshot>__dbt_rewrite, then INSERT
    OVERWRITE (Spark cannot overwrite a table the same statement reads). With a transactional
    format the adapter's MERGE runs unchanged. A materialization in the root project takes
    precedence over the adapter's. -#}

{% materialization snapshot, adapter='spark' %}

  {%- set target_table = model.get('alias', model.get('name')) -%}

  {%- set strategy_name = config.get('strategy') -%}
  {%- set unique_key = config.get('unique_key') %}
  {%- set file_format = config.get('file_format') or 'parquet' -%}
  {%- set grant_config = config.get('grants') -%}

  {% set target_relation_exists, target_relation = get_or_create_relation(
          database=none,
          schema=model.schema,
          identifier=target_table,
          type='table') -%}

  {#- crm: snapshots on plain Parquet / ORC too (rewritten, see the header); dbt-spark accepts
      only delta, iceberg and hudi. -#}
  {%- set transactional = file_format in ['delta', 'iceberg', 'hudi'] -%}
  {%- if not transactional and file_format not in ['parquet', 'orc'] -%}
    {% do exceptions.raise_compiler_error("Snapshots on Spark need file_format delta, iceberg, hudi, parquet or orc; got " ~ file_format) %}
  {% endif %}

  {%- if target_relation_exists and transactional -%}
    {%- if not target_relation.is_delta and not target_relation.is_iceberg and not target_relation.is_hudi -%}
      {% set invalid_format_msg -%}
        The existing table {{ model.schema }}.{{ target_table }} is in another format than 'delta' or 'iceberg' or 'hudi'
      {%- endset %}
      {% do exceptions.raise_compiler_error(invalid_format_msg) %}
    {% endif %}
  {% endif %}

  {% if not adapter.check_schema_exists(model.database, model.schema) %}
    {% do create_schema(model.schema) %}
  {% endif %}

  {%- if not target_relation.is_table -%}
    {% do exceptions.relation_wrong_type(target_relation, 'table') %}
  {%- endif -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}

  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% set strategy_macro = strategy_dispatch(strategy_name) %}
  {% set strategy = strategy_macro(model, "snapshotted_data", "source_data", model['config'], target_relation_exists) %}

  {% if not target_relation_exists %}

      {% set build_sql = build_snapshot_table(strategy, model['compiled_code']) %}
      {% set final_sql = create_table_as(False, target_relation, build_sql) %}

  {% else %}

      {% set columns = config.get("snapshot_table_column_names") or get_snapshot_table_column_names() %}

      {{ adapter.valid_snapshot_target(target_relation, columns) }}

      {% set staging_table = spark_build_snapshot_staging_table(strategy, sql, target_relation) %}

      -- this may no-op if the database does not require column expansion
      {% do adapter.expand_target_column_types(from_relation=staging_table,
                                               to_relation=target_relation) %}

      {% set missing_columns = adapter.get_missing_columns(staging_table, target_relation)
                                   | rejectattr('name', 'equalto', 'dbt_change_type')
                                   | rejectattr('name', 'equalto', 'DBT_CHANGE_TYPE')
                                   | rejectattr('name', 'equalto', 'dbt_unique_key')
                                   | rejectattr('name', 'equalto', 'DBT_UNIQUE_KEY')
                                   | list %}

      {% do create_columns(target_relation, missing_columns) %}

      {% set source_columns = adapter.get_columns_in_relation(staging_table)
                                   | rejectattr('name', 'equalto', 'dbt_change_type')
                                   | rejectattr('name', 'equalto', 'DBT_CHANGE_TYPE')
                                   | rejectattr('name', 'equalto', 'dbt_unique_key')
                                   | rejectattr('name', 'equalto', 'DBT_UNIQUE_KEY')
                                   | list %}

      {% set quoted_source_columns = [] %}
      {% for column in source_columns %}
        {% do quoted_source_columns.append(adapter.quote(column.name)) %}
      {% endfor %}

      {% if transactional %}
        {% set final_sql = snapshot_merge_sql(
              target = target_relation,
              source = staging_table,
              insert_cols = quoted_source_columns
           )
        %}
      {% else %}
        {% set final_sql = crm_spark_snapshot_rewrite_sql(target_relation, staging_table, file_format) %}
      {% endif %}

  {% endif %}

  {% call statement('main') %}
      {{ final_sql }}
  {% endcall %}

  {% set should_revoke = should_revoke(target_relation_exists, full_refresh_mode) %}
  {% do apply_grants(target_relation, grant_config, should_revoke) %}

  {% do persist_docs(target_relation, model) %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}

  {{ adapter.commit() }}

  {% if staging_table is defined %}
      {% do post_snapshot(staging_table) %}
  {% endif %}

  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}


{#- The rows dbt-spark's spark__snapshot_merge_sql would leave, as a full rewrite: every current
    version closed by an 'update' or 'delete' staging row gets that row's dbt_valid_to; 'insert'
    rows whose dbt_scd_id is new are appended. -#}
{% macro crm_spark_snapshot_rewrite_sql(target, source, file_format) -%}
    {%- set names = config.get("snapshot_table_column_names") or get_snapshot_table_column_names() -%}
    {%- set valid_to_current = config.get("dbt_valid_to_current") -%}
    {%- set target_columns = adapter.get_columns_in_relation(target) -%}
    {%- set rewrite = target.incorporate(path={"identifier": target.identifier ~ '__dbt_rewrite'}) -%}
begin
    drop table if exists {{ rewrite }};
    create table {{ rewrite }} using {{ file_format }} as
        select
            {%- for column in target_columns %}
            {% if column.name | lower == names.dbt_valid_to | lower -%}
            case when DBT_INTERNAL_SOURCE.{{ names.dbt_scd_id }} is not null
                then DBT_INTERNAL_SOURCE.{{ names.dbt_valid_to }}
                else DBT_INTERNAL_DEST.{{ column.quoted }} end as {{ column.quoted }}
            {%- else -%}
            DBT_INTERNAL_DEST.{{ column.quoted }}
            {%- endif %}{{ "," if not loop.last }}
            {%- endfor %}
        from {{ target }} as DBT_INTERNAL_DEST
        left join (
            select {{ names.dbt_scd_id }}, {{ names.dbt_valid_to }}
            from {{ source }}
            where dbt_change_type in ('update', 'delete')
        ) as DBT_INTERNAL_SOURCE
            on DBT_INTERNAL_SOURCE.{{ names.dbt_scd_id }} = DBT_INTERNAL_DEST.{{ names.dbt_scd_id }}
            and (DBT_INTERNAL_DEST.{{ names.dbt_valid_to }} is null
                {%- if valid_to_current %} or DBT_INTERNAL_DEST.{{ names.dbt_valid_to }} = {{ valid_to_current }}{% endif %})
        union all
        select
            {%- for column in target_columns %}
            DBT_INTERNAL_SOURCE.{{ column.quoted }}{{ "," if not loop.last }}
            {%- endfor %}
        from {{ source }} as DBT_INTERNAL_SOURCE
        where DBT_INTERNAL_SOURCE.dbt_change_type = 'insert'
            and not exists (
                select 1 from {{ target }} as DBT_INTERNAL_DEST
                where DBT_INTERNAL_DEST.{{ names.dbt_scd_id }} = DBT_INTERNAL_SOURCE.{{ names.dbt_scd_id }}
            );
    insert overwrite table {{ target }} select * from {{ rewrite }};
    drop table {{ rewrite }};
end
{%- endmacro %}

{#- A post-hook of every model (dbt_project.yml). dbt's table and view materializations rename the
    old relation to <name>__dbt_backup, commit, and only then drop the backup: a process killed in
    between leaves <name>__dbt_backup in the warehouse (tests/test_faults.py caught one). Post-hooks
    run inside the model's transaction after the swap, so on DuckDB (transactional DDL) the backup
    is dropped in the same commit as the swap. Other adapters keep dbt's own order (no-op). -#}
{% macro drop_backup_before_commit() -%}
    {{ return(adapter.dispatch('drop_backup_before_commit')()) }}
{%- endmacro %}

{% macro default__drop_backup_before_commit() -%}
{%- endmacro %}

{% macro duckdb__drop_backup_before_commit() -%}
    {%- if execute -%}
        {%- set backup = load_cached_relation(make_backup_relation(this, 'table')) -%}
        {%- if backup is not none -%}
            drop {{ backup.type }} if exists {{ backup }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook for incremental tables that --full-refresh must not rebuild (they hold state, e.g. the
    identity links and their customer ids): add a column a newer version of the model writes, so
    the run can read it from the previous rows (null there) instead of failing on the old schema.
    data_type is spelled as on DuckDB and PostgreSQL; Spark gets its own spelling (crm_spark_type). -#}
{% macro add_column_if_missing(relation, column_name, data_type) -%}
    {%- if execute -%}
        {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
        {%- if existing and column_name | lower not in existing -%}
            {{ log("adding column " ~ column_name ~ " to " ~ relation, info=true) }}
            {%- if target.type == 'spark' -%}
                alter table {{ relation }} add columns ({{ column_name }} {{ crm_spark_type(data_type) }})
            {%- else -%}
                alter table {{ relation }} add column {{ column_name }} {{ data_type }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

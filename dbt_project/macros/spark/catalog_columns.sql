{#- (table_name, column_name) of every relation in a schema, as a query.

    information_schema.columns on DuckDB and PostgreSQL. Spark's Hive catalog has no
    information_schema, so there the columns are read from the catalog when the node executes
    (adapter.get_columns_in_relation) and inlined as a VALUES list. -#}
{% macro catalog_columns_sql(schema_name) -%}
    {{ return(adapter.dispatch('catalog_columns_sql')(schema_name)) }}
{%- endmacro %}

{% macro default__catalog_columns_sql(schema_name) -%}
    select table_name, column_name
    from information_schema.columns
    where lower(table_schema) = '{{ schema_name | lower }}'
{%- endmacro %}

{% macro spark__catalog_columns_sql(schema_name) -%}
    {%- set rows = [] -%}
    {%- if execute -%}
        {%- set schema_relation = api.Relation.create(schema=schema_name) -%}
        {#- rows of `show table extended in <schema>`: namespace, tableName, isTemporary, information -#}
        {%- for row in list_relations_without_caching(schema_relation) if not row['isTemporary'] -%}
            {%- set relation = api.Relation.create(schema=schema_name, identifier=row['tableName']) -%}
            {%- for column in adapter.get_columns_in_relation(relation) -%}
                {%- do rows.append("('" ~ relation.identifier ~ "', '" ~ column.name ~ "')") -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if rows -%}
    select table_name, column_name
    from values {{ rows | join(', ') }} as catalog_columns (table_name, column_name)
    {%- else -%}
    select cast(null as string) as table_name, cast(null as string) as column_name
    where false
    {%- endif -%}
{%- endmacro %}

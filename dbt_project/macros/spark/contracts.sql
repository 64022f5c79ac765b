{#- Model contracts on Spark. The YAML data_type of a contracted column is written once, in the
    spelling DuckDB and PostgreSQL share (text, float8, timestamp with time zone, ...). dbt-spark
    enforces a contract by comparing the model's column types with those of
    `select cast(null as <data_type>) ...` (it creates Parquet tables with CREATE TABLE AS, no typed
    DDL), so translating the declared types to Spark's names in that query enforces the same
    contract. Types Spark knows (bigint, date, boolean, decimal(p, s), ...) pass unchanged. -#}

{% macro crm_spark_type(data_type) -%}
    {%- set spark_names = {
        'text': 'string',
        'varchar': 'string',
        'character varying': 'string',
        'float8': 'double',
        'double precision': 'double',
        'float4': 'float',
        'real': 'float',
        'int8': 'bigint',
        'int4': 'int',
        'integer': 'int',
        'int2': 'smallint',
        'bool': 'boolean',
        'timestamp with time zone': 'timestamp',
        'timestamptz': 'timestamp',
        'timestamp without time zone': 'timestamp_ntz',
    } -%}
    {{- return(spark_names.get(data_type | trim | lower, data_type)) -}}
{%- endmacro %}


{#- dbt-core's default__get_empty_schema_sql with the types translated by crm_spark_type. -#}
{% macro spark__get_empty_schema_sql(columns) %}
    {%- set translated = {} -%}
    {%- for name in columns -%}
        {%- set column = dict(columns[name]) -%}
        {%- if column.get('data_type') is not none -%}
            {%- do column.update({'data_type': crm_spark_type(column['data_type'])}) -%}
        {%- endif -%}
        {%- do translated.update({name: column}) -%}
    {%- endfor -%}
    {{ return(dbt.default__get_empty_schema_sql(translated)) }}
{% endmacro %}

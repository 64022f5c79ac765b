{#- Custom schemas are used as written (marts, staging, ...) instead of <target>_<custom>,
    so BI tools and the publish step find marts.dim_customers in every environment. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

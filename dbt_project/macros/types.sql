{#- Column types shared by models and contracts. One place to change them per warehouse. -#}

{#- Money: four decimals like raw.sales (DECIMAL(18, 4)); sums are rounded to the cent only for display. -#}
{% macro type_money() -%}
    {{ return(api.Column.numeric_type("decimal", 18, 4)) }}
{%- endmacro %}

{#- Wide money for sums over many lines. -#}
{% macro type_money_sum() -%}
    {{ return(api.Column.numeric_type("decimal", 38, 4)) }}
{%- endmacro %}

{#- Ratios and rates: double precision everywhere (dbt.type_float() is a 4-byte REAL on DuckDB). -#}
{% macro type_ratio() -%}
    {{ return(adapter.dispatch('type_ratio')()) }}
{%- endmacro %}

{% macro default__type_ratio() -%}
    double precision
{%- endmacro %}

{% macro spark__type_ratio() -%}
    double
{%- endmacro %}

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

{#- A money amount from a product of decimals (quantity x price x (1 - discount)), rounded to
    type_money(). On DuckDB the product of two DECIMAL(18, 4) is a 128-bit DECIMAL(38, 8), and
    rescaling that to four decimals took 7-10 s per column per 10M rows (the multiply 0.7 s); amounts
    below 10^9 fit a 64-bit DECIMAL(18, 8) first, whose rescale took about 1.5 s and rounds the
    same way (half away from zero). Larger amounts take the 128-bit path, so the result is identical for every value. -#}
{% macro money_from_product(expression) -%}
    {{ return(adapter.dispatch('money_from_product')(expression)) }}
{%- endmacro %}

{% macro default__money_from_product(expression) -%}
    cast({{ expression }} as {{ type_money() }})
{%- endmacro %}

{% macro duckdb__money_from_product(expression) -%}
    case
        when abs({{ expression }}) < 1000000000
            then cast(cast({{ expression }} as decimal(18, 8)) as {{ type_money() }})
        else cast({{ expression }} as {{ type_money() }})
    end
{%- endmacro %}

{#- An instant: timestamp with time zone (Spark's timestamp is one). -#}
{% macro type_timestamp_tz() -%}
    {{ return(adapter.dispatch('type_timestamp_tz')()) }}
{%- endmacro %}

{% macro default__type_timestamp_tz() -%}
    timestamp with time zone
{%- endmacro %}

{% macro spark__type_timestamp_tz() -%}
    timestamp
{%- endmacro %}

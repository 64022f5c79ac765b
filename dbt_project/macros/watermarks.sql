{#- Filters on watermarks read before an incremental model's statement (run_query) and written into
    it as literals: unlike a comparison with a subquery, a literal lets DuckDB push the filter into
    the scan below a view's joins (fct_sales, docs/benchmarks.md). -#}

{#- column > the instant read as text (cast(max(ts) as string), which keeps the time zone) -#}
{% macro later_than(column, instant_text) -%}
    {{ column }} > cast({{ dbt.string_literal(instant_text) }} as {{ type_timestamp_tz() }})
{%- endmacro %}

{#- column in (the values as string literals); never called with no values -#}
{% macro in_values(column, values) -%}
    {%- if values | length == 0 -%}
        {{ exceptions.raise_compiler_error("in_values: no values for " ~ column) }}
    {%- endif -%}
    {{ column }} in ({% for value in values %}{{ dbt.string_literal(value) }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}

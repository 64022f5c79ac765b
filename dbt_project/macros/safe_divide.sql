{#- numerator / denominator as a double, NULL when the denominator is 0 or NULL. -#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as {{ dbt.type_float() }}) / nullif(cast({{ denominator }} as {{ dbt.type_float() }}), 0)
{%- endmacro %}

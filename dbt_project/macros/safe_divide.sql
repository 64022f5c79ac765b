{#- numerator / denominator as a double, NULL when the denominator is 0 or NULL. -#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as {{ type_ratio() }}) / nullif(cast({{ denominator }} as {{ type_ratio() }}), 0)
{%- endmacro %}

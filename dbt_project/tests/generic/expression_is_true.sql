{#- Fails for every row where the boolean SQL expression is not true (false or NULL counts as a failure).
    At column level the column name is prepended, e.g. expression: ">= 0". Filter rows with the
    built-in `where` config. -#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not coalesce(({% if column_name is not none %}{{ column_name }} {% endif %}{{ expression }}), false)

{% endtest %}

{#- The incremental fct_sales must hold exactly what a full refresh would: every linked order line
    once, with its current customer and amounts. Compares the table with its upstream model in one
    full outer join on order_line_id (one hash join; two EXCEPTs hashed every row of both sides
    twice); returns the lines that are missing, unexpected or stale, with both versions. -#}
{%- set compared = ['customer_id', 'order_date', 'quantity', 'net_amount', 'cost_amount'] -%}
with

expected as (

    select order_line_id, {{ compared | join(', ') }}
    from {{ ref('int_order_lines_joined_to_customers') }}

),

actual as (

    select order_line_id, {{ compared | join(', ') }}
    from {{ ref('fct_sales') }}

),

compared as (

    select
        case
            when actual.order_line_id is null then 'missing_in_fct_sales'
            when expected.order_line_id is null then 'unexpected_in_fct_sales'
            else 'stale_in_fct_sales'
        end as issue,
        coalesce(expected.order_line_id, actual.order_line_id) as order_line_id,
        {%- for column in compared %}
            expected.{{ column }} as expected_{{ column }},
            actual.{{ column }} as actual_{{ column }},
        {%- endfor %}
        actual.order_line_id is null or expected.order_line_id is null
        {%- for column in compared %}
            or expected.{{ column }} is distinct from actual.{{ column }}
        {%- endfor %} as is_different

    from expected
    full outer join actual
        on expected.order_line_id = actual.order_line_id

),

final as (

    select * from compared
    where is_different

)

select * from final

{#- The incremental fct_sales must hold exactly what a full refresh would: every linked order line
    once, with its current customer and amounts. Compares the table with its upstream model both
    ways; returns lines that differ. -#}
with

expected as (

    select order_line_id, customer_id, order_date, quantity, net_amount, cost_amount
    from {{ ref('int_order_lines_joined_to_customers') }}

),

actual as (

    select order_line_id, customer_id, order_date, quantity, net_amount, cost_amount
    from {{ ref('fct_sales') }}

),

missing as (

    select 'missing_or_stale_in_fct_sales' as issue, * from expected
    {{ dbt.except() }}
    select 'missing_or_stale_in_fct_sales' as issue, * from actual

),

unexpected as (

    select 'unexpected_in_fct_sales' as issue, * from actual
    {{ dbt.except() }}
    select 'unexpected_in_fct_sales' as issue, * from expected

)

select * from missing
union all
select * from unexpected

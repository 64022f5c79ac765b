with

order_lines as (

    select * from {{ ref('int_order_lines_joined_to_customers') }}

),

aggregated as (

    select
        {{ dbt.concat(['customer_id', "'|'", 'order_id']) }} as order_key,
        customer_id,
        order_id,
        min(order_date) as order_date,
        count(*) as line_count,
        cast(sum(case when is_return then 1 else 0 end) as {{ dbt.type_bigint() }}) as return_line_count,
        cast(sum(case when is_return then 0 else quantity end) as {{ dbt.type_bigint() }}) as units_sold,
        cast(-sum(case when is_return then quantity else 0 end) as {{ dbt.type_bigint() }}) as units_returned,
        -- sums typed explicitly: PostgreSQL's sum(numeric(18, 4)) is an unconstrained numeric
        cast(sum(gross_amount) as {{ type_money_sum() }}) as gross_amount,
        cast(sum(net_amount) as {{ type_money_sum() }}) as net_amount,
        cast(sum(case when is_return then net_amount else 0 end) as {{ type_money_sum() }}) as returned_amount,
        cast(sum(cost_amount) as {{ type_money_sum() }}) as cost_amount,
        -- margin only over lines with a known cost (a line without unit_cost has no margin)
        cast(sum(net_amount - cost_amount) as {{ type_money_sum() }}) as gross_margin_amount,
        cast(sum(case when cost_amount is not null then net_amount end) as {{ type_money_sum() }})
            as costed_net_amount

    from order_lines
    group by customer_id, order_id

),

final as (

    select
        order_key,
        customer_id,
        order_id,
        order_date,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as order_month,
        line_count,
        return_line_count,
        units_sold,
        units_returned,
        gross_amount,
        net_amount,
        returned_amount,
        cost_amount,
        gross_margin_amount,
        costed_net_amount,
        -- an order counts as a purchase only when its lines net to a positive amount: an order made
        -- only of returns (or one whose returns cancel it on the same ticket) is not a purchase
        net_amount > 0 as is_purchase,
        return_line_count = line_count as is_return_only

    from aggregated

)

select * from final

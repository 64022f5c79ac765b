{#- Purchase history per customer as of the reference date (orders dated before it).
    frequency counts purchase orders (net amount > 0); monetary is the net revenue of every line,
    so returns, including return-only orders, net out. purchase_days counts distinct days with a
    purchase (orders on the same day merged) for repeat-purchase rules. -#}
with

orders as (

    select * from {{ ref('int_order_lines_aggregated_to_orders') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

orders_before_reference as (

    select orders.*
    from orders
    cross join reference_dates
    where orders.order_date < reference_dates.reference_date

),

summarised as (

    select
        customer_id,
        min(case when is_purchase then order_date end) as first_purchase_date,
        max(case when is_purchase then order_date end) as last_purchase_date,
        cast(sum(case when is_purchase then 1 else 0 end) as {{ dbt.type_bigint() }}) as frequency,
        cast(count(distinct case when is_purchase then order_date end) as {{ dbt.type_bigint() }})
            as purchase_days,
        cast(sum(case when is_return_only then 1 else 0 end) as {{ dbt.type_bigint() }}) as return_only_orders,
        cast(sum(units_sold) as {{ dbt.type_bigint() }}) as units_sold,
        cast(sum(units_returned) as {{ dbt.type_bigint() }}) as units_returned,
        cast(sum(net_amount) as {{ type_money_sum() }}) as monetary,
        cast(sum(returned_amount) as {{ type_money_sum() }}) as returned_amount,
        cast(sum(cost_amount) as {{ type_money_sum() }}) as cost_amount,
        cast(sum(gross_margin_amount) as {{ type_money_sum() }}) as gross_margin_amount,
        cast(sum(costed_net_amount) as {{ type_money_sum() }}) as costed_net_amount

    from orders_before_reference
    group by customer_id

),

final as (

    select
        summarised.*,
        reference_dates.reference_date,
        -- bigint everywhere (PostgreSQL's day difference is an integer)
        cast(
            {{ dbt.datediff('summarised.last_purchase_date', 'reference_dates.reference_date', 'day') }}
            as {{ dbt.type_bigint() }}
        ) as recency_days,
        cast(summarised.monetary / nullif(summarised.frequency, 0) as {{ type_money() }}) as average_order_value

    from summarised
    cross join reference_dates

)

select * from final

{#- Purchase activity per customer per month, from the customer's first purchase month to the
    reference month (dense: months without purchases included). Grain: customer_id + month_start.

    Activity definition (var activity_window_months = W): a customer is active in a month when
    their latest purchase order is at most W - 1 months earlier (that month included).
    activity_status:
      new          first purchase month;
      retained     active now and active the month before;
      reactivated  active now, not active the month before, bought before;
      churned      not active now, active the month before (the month the window runs out);
      inactive     neither active now nor the month before. -#}
with

orders as (

    select * from {{ ref('int_order_lines_aggregated_to_orders') }}

),

months as (

    select * from {{ ref('int_calendar_months_generated') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

monthly_orders as (

    select
        orders.customer_id,
        orders.order_month as month_start,
        sum(case when orders.is_purchase then 1 else 0 end) as purchase_orders,
        max(case when orders.is_purchase then orders.order_date end) as last_purchase_date_in_month,
        sum(orders.net_amount) as net_revenue

    from orders
    cross join reference_dates
    where orders.order_date < reference_dates.reference_date
    group by orders.customer_id, orders.order_month

),

first_purchase_months as (

    select
        customer_id,
        min(month_start) as first_purchase_month

    from monthly_orders
    where purchase_orders > 0
    group by customer_id

),

spined as (

    select
        first_purchase_months.customer_id,
        first_purchase_months.first_purchase_month,
        months.month_start,
        months.is_reference_month,
        cast(coalesce(monthly_orders.purchase_orders, 0) as {{ dbt.type_bigint() }}) as purchase_orders,
        monthly_orders.last_purchase_date_in_month,
        cast(coalesce(monthly_orders.net_revenue, 0) as {{ type_money_sum() }}) as net_revenue

    from first_purchase_months
    inner join months
        on first_purchase_months.first_purchase_month <= months.month_start
    left join monthly_orders
        on first_purchase_months.customer_id = monthly_orders.customer_id
        and months.month_start = monthly_orders.month_start

),

with_last_purchase as (

    select
        *,
        max(case when purchase_orders > 0 then month_start end) over (
            partition by customer_id
            order by month_start
            rows between unbounded preceding and current row
        ) as last_purchase_month,
        max(last_purchase_date_in_month) over (
            partition by customer_id
            order by month_start
            rows between unbounded preceding and current row
        ) as last_purchase_date,
        sum(purchase_orders) over (
            partition by customer_id
            order by month_start
            rows between unbounded preceding and current row
        ) as cumulative_purchase_orders,
        sum(net_revenue) over (
            partition by customer_id
            order by month_start
            rows between unbounded preceding and current row
        ) as cumulative_net_revenue

    from spined

),

with_activity as (

    select
        *,
        {{ dbt.datediff('last_purchase_month', 'month_start', 'month') }} < {{ var('activity_window_months') }}
            as is_active

    from with_last_purchase

),

with_previous as (

    select
        *,
        coalesce(
            lag(is_active) over (partition by customer_id order by month_start),
            false
        ) as was_active_previous_month

    from with_activity

),

final as (

    select
        customer_id,
        month_start,
        first_purchase_month,
        -- bigint everywhere (PostgreSQL's month difference is a double precision)
        cast({{ dbt.datediff('first_purchase_month', 'month_start', 'month') }} as {{ dbt.type_bigint() }})
            as months_since_first_purchase,
        is_reference_month,
        purchase_orders,
        net_revenue,
        last_purchase_month,
        last_purchase_date,
        cast(cumulative_purchase_orders as {{ dbt.type_bigint() }}) as cumulative_purchase_orders,
        cast(cumulative_net_revenue as {{ type_money_sum() }}) as cumulative_net_revenue,
        is_active,
        was_active_previous_month,
        case
            when month_start = first_purchase_month then 'new'
            when is_active and was_active_previous_month then 'retained'
            when is_active then 'reactivated'
            when was_active_previous_month then 'churned'
            else 'inactive'
        end as activity_status

    from with_previous

)

select * from final

{#- Headline customer KPIs per month (grain: one row per calendar month up to the reference month),
    for the CRM dashboard. Customer, retention, NPS, CSAT and complaint figures come from
    loyalty_monthly (definitions there); in addition:
      purchase_frequency          purchase orders / buying customers of the month
      average_sales_per_customer  net revenue / buying customers of the month
      return_rate                 units returned / units sold in the month. -#}
with

loyalty as (

    select * from {{ ref('loyalty_monthly') }}

),

orders as (

    select * from {{ ref('int_order_lines_aggregated_to_orders') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

monthly_orders as (

    select
        orders.order_month as month_start,
        sum(case when orders.is_purchase then 1 else 0 end) as purchase_orders,
        sum(orders.units_sold) as units_sold,
        sum(orders.units_returned) as units_returned

    from orders
    cross join reference_dates
    where orders.order_date < reference_dates.reference_date
    group by orders.order_month

),

final as (

    select
        loyalty.month_start,
        loyalty.is_partial_month,
        loyalty.active_customers,
        loyalty.new_customers,
        loyalty.buying_customers,
        cast(coalesce(monthly_orders.purchase_orders, 0) as {{ dbt.type_bigint() }}) as purchase_orders,
        loyalty.net_revenue,
        loyalty.csat,
        loyalty.average_satisfaction,
        loyalty.nps,
        loyalty.retention_rate,
        loyalty.churn_rate,
        loyalty.repeat_purchase_rate,
        loyalty.new_customer_rate,
        loyalty.new_customer_revenue_share,
        {{ safe_divide('monthly_orders.purchase_orders', 'loyalty.buying_customers') }} as purchase_frequency,
        {{ safe_divide('loyalty.net_revenue', 'loyalty.buying_customers') }} as average_sales_per_customer,
        loyalty.complaint_rate,
        {{ safe_divide('monthly_orders.units_returned', 'monthly_orders.units_sold') }} as return_rate

    from loyalty
    left join monthly_orders
        on loyalty.month_start = monthly_orders.month_start

)

select * from final

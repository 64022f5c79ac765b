{#- Net revenue in the marts reconciles to raw.sales net of returns, to the cent:
    - fct_sales over all lines = raw over all lines;
    - dim_customers, customer_rfm, customer_value_tiers, product_performance and loyalty_monthly
      (facts before the reference date) = raw lines dated before the reference date.
    Raw net revenue is computed here from raw.sales with the contract's definition
    quantity x unit_price x (1 - discount); a line missing from fct_sales (e.g. no identity link)
    or counted twice shows up as a difference. Returns one row per mart that does not reconcile. -#}
with

raw_lines as (

    select
        order_date,
        quantity * unit_price * (1 - coalesce(discount, 0)) as net_amount

    from {{ source('raw', 'sales') }}

),

reference_dates as (

    select reference_date from {{ ref('int_reference_dates_resolved') }}

),

raw_totals as (

    select
        round(sum(raw_lines.net_amount), 2) as all_lines,
        round(coalesce(sum(case when raw_lines.order_date < reference_dates.reference_date
            then raw_lines.net_amount end), 0), 2) as before_reference

    from raw_lines
    cross join reference_dates

),

mart_totals as (

    select 'fct_sales' as mart, 'all_lines' as scope, round(coalesce(sum(net_amount), 0), 2) as net_revenue
    from {{ ref('fct_sales') }}

    union all

    select 'dim_customers', 'before_reference', round(coalesce(sum(net_revenue), 0), 2)
    from {{ ref('dim_customers') }}

    union all

    select 'customer_rfm', 'before_reference', round(coalesce(sum(monetary), 0), 2)
    from {{ ref('customer_rfm') }}

    union all

    select 'customer_value_tiers', 'before_reference', round(coalesce(sum(net_revenue), 0), 2)
    from {{ ref('customer_value_tiers') }}

    union all

    select 'product_performance', 'before_reference', round(coalesce(sum(net_revenue), 0), 2)
    from {{ ref('product_performance') }}

    union all

    select 'loyalty_monthly', 'before_reference', round(coalesce(sum(net_revenue), 0), 2)
    from {{ ref('loyalty_monthly') }}

),

compared as (

    select
        mart_totals.mart,
        mart_totals.scope,
        mart_totals.net_revenue as mart_net_revenue,
        case mart_totals.scope
            when 'all_lines' then raw_totals.all_lines
            else raw_totals.before_reference
        end as raw_net_revenue

    from mart_totals
    cross join raw_totals

)

select * from compared
where mart_net_revenue <> coalesce(raw_net_revenue, 0)

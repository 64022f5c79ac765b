{#- Sales composition and profitability per product (sku) over all sales before the reference date.
    - gross_margin_rate  = gross margin / net revenue, over lines with a known unit cost;
    - return_rate        = units returned / units sold;
    - revenue_share      = the product's share of total net revenue; share_of_category within its category;
    - contribution_ratio = the product's share of total gross margin (profit contribution);
    - inventory_turnover_proxy: there is no stock data, so turnover is proxied by sales velocity
      relative to the category: (net units per month with sales) / (the category's average of that
      per product). 1.0 = an average mover in its category, 2.0 = sells twice as fast;
    - cross_ratio        = gross_margin_rate x inventory_turnover_proxy (the "cross ratio" of margin
      and turnover used to rank products; high = profitable and fast-moving).
    Product name and category are the latest seen for the sku. Grain: one row per sku. -#}
with

order_lines as (

    -- the materialised lines, not the view they equal: reading fct_sales' ten columns takes 1.3 s
    -- at 10M lines, recomputing the staging amounts and the customer join 3.4 s
    select * from {{ ref('fct_sales') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

lines_before_reference as (

    -- only the columns used below: a 10M-line table is not carried through joins and aggregates
    select
        order_lines.order_line_id,
        order_lines.sku,
        order_lines.product_name,
        order_lines.category,
        order_lines.order_date,
        order_lines._loaded_at,
        order_lines.quantity,
        order_lines.is_return,
        order_lines.net_amount,
        order_lines.cost_amount

    from order_lines
    cross join reference_dates
    where order_lines.order_date < reference_dates.reference_date

),

latest_order_dates as (

    select
        sku,
        max(order_date) as latest_order_date

    from lines_before_reference
    group by sku

),

lines_on_latest_date as (
    -- the latest line of a sku is on its latest order date (order_date is never null here), so the
    -- tie-break ranks only those lines instead of sorting every line of the sku

    select
        lines_before_reference.sku,
        lines_before_reference.product_name,
        lines_before_reference.category,
        row_number() over (
            partition by lines_before_reference.sku
            order by
                lines_before_reference._loaded_at desc nulls last,
                lines_before_reference.order_line_id desc nulls last
        ) as line_recency

    from lines_before_reference
    inner join latest_order_dates
        on
        lines_before_reference.sku = latest_order_dates.sku
        and lines_before_reference.order_date = latest_order_dates.latest_order_date

),

latest_attributes as (

    select
        sku,
        product_name,
        category

    from lines_on_latest_date
    where line_recency = 1

),

product_totals as (

    select
        sku,
        sum(case when is_return then 0 else quantity end) as units_sold,
        -sum(case when is_return then quantity else 0 end) as units_returned,
        sum(case when is_return then 0 else net_amount end) as sales_amount,
        -sum(case when is_return then net_amount else 0 end) as returns_amount,
        sum(net_amount) as net_revenue,
        sum(case when cost_amount is not null then net_amount - cost_amount end) as gross_margin_amount,
        sum(case when cost_amount is not null then net_amount end) as costed_net_revenue,
        count(distinct case when not is_return then {{ dbt.date_trunc('month', 'order_date') }} end)
            as selling_months

    from lines_before_reference
    group by sku

),

products as (

    select
        product_totals.*,
        coalesce(latest_attributes.category, 'unknown') as category,
        latest_attributes.product_name,
        -- exact numeric, so the category average below is bit-identical from build to build
        -- (a parallel sum of doubles is not)
        cast(
            {{ safe_divide(
                'product_totals.units_sold - product_totals.units_returned',
                'product_totals.selling_months',
            ) }}
            as {{ dbt.type_numeric() }}
        ) as monthly_unit_velocity

    from product_totals
    inner join latest_attributes
        on product_totals.sku = latest_attributes.sku

),

with_shares as (

    select
        *,
        sum(net_revenue) over () as total_net_revenue,
        sum(net_revenue) over (partition by category) as category_net_revenue,
        sum(gross_margin_amount) over () as total_gross_margin,
        avg(monthly_unit_velocity) over (partition by category) as category_average_velocity

    from products

),

final as (

    select
        sku,
        product_name,
        category,
        cast(units_sold as {{ dbt.type_bigint() }}) as units_sold,
        cast(units_returned as {{ dbt.type_bigint() }}) as units_returned,
        cast(sales_amount as {{ type_money_sum() }}) as sales_amount,
        cast(returns_amount as {{ type_money_sum() }}) as returns_amount,
        cast(net_revenue as {{ type_money_sum() }}) as net_revenue,
        cast(gross_margin_amount as {{ type_money_sum() }}) as gross_margin_amount,
        {{ safe_divide('gross_margin_amount', 'costed_net_revenue') }} as gross_margin_rate,
        {{ safe_divide('units_returned', 'units_sold') }} as return_rate,
        {{ safe_divide('net_revenue', 'total_net_revenue') }} as revenue_share,
        cast(category_net_revenue as {{ type_money_sum() }}) as category_net_revenue,
        {{ safe_divide('category_net_revenue', 'total_net_revenue') }} as category_revenue_share,
        {{ safe_divide('net_revenue', 'category_net_revenue') }} as share_of_category,
        {{ safe_divide('gross_margin_amount', 'total_gross_margin') }} as contribution_ratio,
        cast(selling_months as {{ dbt.type_bigint() }}) as selling_months,
        cast(monthly_unit_velocity as {{ type_ratio() }}) as monthly_unit_velocity,
        {{ safe_divide('monthly_unit_velocity', 'category_average_velocity') }} as inventory_turnover_proxy,
        {{ safe_divide('gross_margin_amount', 'costed_net_revenue') }}
        * {{ safe_divide('monthly_unit_velocity', 'category_average_velocity') }} as cross_ratio

    from with_shares

)

select * from final

{#- Pareto (concentration) curve of net revenue over customers with positive net revenue, ranked
    highest first. A point at customer_share_pct = p covers the top ceil(p% x N) customers.
    Points every var pareto_curve_step_pct percent (must divide 100). The headline columns repeat
    on every row: the share of revenue from the top var pareto_top_customer_share of customers. -#}
{%- set step = var('pareto_curve_step_pct') | int -%}
{%- if step <= 0 or 100 % step != 0 -%}
    {{ exceptions.raise_compiler_error("var pareto_curve_step_pct must divide 100, got " ~ step) }}
{%- endif -%}

with

value_tiers as (

    select * from {{ ref('int_customers_value_tiered') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

series as (

    {{ dbt.generate_series(100 // step + 1) }}

),

ranked as (

    select
        row_number() over (order by net_revenue desc, customer_id asc) as customer_position,
        sum(net_revenue) over (
            order by net_revenue desc, customer_id asc
            rows between unbounded preceding and current row
        ) as cumulative_revenue

    from value_tiers
    where net_revenue > 0

),

totals as (

    select
        count(*) as total_customers,
        sum(net_revenue) as total_revenue,
        cast(ceil(count(*) * {{ var('pareto_top_customer_share') }}) as {{ dbt.type_bigint() }})
            as top_customers

    from value_tiers
    where net_revenue > 0

),

curve_points as (

    select
        cast((series.generated_number - 1) * {{ step }} as {{ dbt.type_int() }}) as customer_share_pct,
        cast(
            ceil(totals.total_customers * (series.generated_number - 1) * {{ step }} / 100.0)
            as {{ dbt.type_bigint() }}
        ) as customers_in_share

    from series
    cross join totals

),

headline as (

    select
        {{ safe_divide('ranked.cumulative_revenue', 'totals.total_revenue') }} as top_customer_revenue_share

    from ranked
    inner join totals
        on ranked.customer_position = totals.top_customers

),

final as (

    select
        curve_points.customer_share_pct,
        reference_dates.reference_date,
        curve_points.customers_in_share,
        cast(coalesce(ranked.cumulative_revenue, 0) as {{ type_money_sum() }}) as cumulative_revenue,
        coalesce({{ safe_divide('ranked.cumulative_revenue', 'totals.total_revenue') }}, 0) as revenue_share,
        totals.total_customers,
        cast(totals.total_revenue as {{ type_money_sum() }}) as total_revenue,
        cast({{ var('pareto_top_customer_share') }} as {{ type_ratio() }}) as top_customer_share,
        headline.top_customer_revenue_share

    from curve_points
    cross join totals
    cross join reference_dates
    left join ranked
        on curve_points.customers_in_share = ranked.customer_position
    left join headline
        on 1 = 1

)

select * from final

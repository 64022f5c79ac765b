{#- Cohort retention: customers grouped by the month of their first purchase (cohort_month); for
    each month since (0 = the cohort month), how many of them placed a purchase order in that month
    and the share of the cohort that is. Grain: cohort_month + months_since_first_purchase. -#}
with

customer_months as (

    select * from {{ ref('int_customer_months_spined') }}

),

cohorts as (

    select
        first_purchase_month as cohort_month,
        months_since_first_purchase,
        month_start,
        count(*) as cohort_customers,
        sum(case when purchase_orders > 0 then 1 else 0 end) as purchasing_customers,
        sum(case when is_active then 1 else 0 end) as active_customers,
        sum(net_revenue) as net_revenue

    from customer_months
    group by first_purchase_month, months_since_first_purchase, month_start

),

final as (

    select
        {{ dbt.concat([
            dbt.cast('cohort_month', api.Column.translate_type('string')),
            "'|'",
            dbt.cast('months_since_first_purchase', api.Column.translate_type('string')),
        ]) }} as cohort_period_key,
        cohort_month,
        cast(months_since_first_purchase as {{ dbt.type_int() }}) as months_since_first_purchase,
        month_start,
        cast(cohort_customers as {{ dbt.type_bigint() }}) as cohort_customers,
        cast(purchasing_customers as {{ dbt.type_bigint() }}) as purchasing_customers,
        {{ safe_divide('purchasing_customers', 'cohort_customers') }} as retention_share,
        cast(active_customers as {{ dbt.type_bigint() }}) as active_customers,
        {{ safe_divide('active_customers', 'cohort_customers') }} as active_share,
        cast(net_revenue as {{ type_money_sum() }}) as net_revenue

    from cohorts

)

select * from final

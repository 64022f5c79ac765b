{#- Every customer in the spine has exactly one row per month from the first purchase month to the
    reference month, and none after it. An incremental run replaces the months from the earliest
    changed one (strategy replace_from): a stale, missing or doubled month would show here. -#}
with

customer_months as (

    select * from {{ ref('int_customer_months_spined') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

per_customer as (

    select
        customer_id,
        min(first_purchase_month) as first_purchase_month,
        max(first_purchase_month) as latest_first_purchase_month,
        min(month_start) as first_month,
        max(month_start) as last_month,
        count(*) as row_count,
        count(distinct month_start) as month_count

    from customer_months
    group by customer_id

),

final as (

    select
        per_customer.*,
        reference_dates.reference_month

    from per_customer
    cross join reference_dates
    where
        per_customer.first_purchase_month <> per_customer.latest_first_purchase_month
        or per_customer.first_month <> per_customer.first_purchase_month
        or per_customer.last_month <> reference_dates.reference_month
        or per_customer.row_count <> per_customer.month_count
        or per_customer.month_count
        <> {{ dbt.datediff('per_customer.first_month', 'reference_dates.reference_month', 'month') }} + 1

)

select * from final

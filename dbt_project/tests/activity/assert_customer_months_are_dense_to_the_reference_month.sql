{#- Every customer in the spine has one row per month from the first purchase month to the
    reference month, and none after it. An incremental run replaces the months from the earliest
    changed one (strategy replace_from): a stale or missing month shows here, a doubled one also in
    the unique test of customer_rfm_monthly.customer_month_key (one row per spine row). Counts,
    minimum and maximum only: count(distinct) per customer cost 2-4 s at 10M rows. -#}
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
        -- max: rows left from an older, earlier first purchase month would start before it
        max(first_purchase_month) as first_purchase_month,
        min(month_start) as first_month,
        max(month_start) as last_month,
        count(*) as row_count

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
        per_customer.first_month <> per_customer.first_purchase_month
        or per_customer.last_month <> reference_dates.reference_month
        or per_customer.row_count
        <> {{ dbt.datediff('per_customer.first_month', 'reference_dates.reference_month', 'month') }} + 1

)

select * from final

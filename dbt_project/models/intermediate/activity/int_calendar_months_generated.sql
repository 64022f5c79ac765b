{#- One row per calendar month from the first month with a sale or questionnaire up to the
    reference month (the month of the last day before the reference date). Built from
    dbt.generate_series, so it needs no warehouse-specific date functions; the series is capped at
    var calendar_max_months months. -#}
with

order_lines as (

    select * from {{ ref('stg_sales__order_lines') }}

),

responses as (

    select * from {{ ref('stg_questionnaires__responses') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

series as (

    {{ dbt.generate_series(var('calendar_max_months')) }}

),

first_dates as (

    select min(order_date) as first_date from order_lines
    union all
    select min(survey_date) as first_date from responses

),

bounds as (

    select
        cast({{ dbt.date_trunc('month', 'min(first_dates.first_date)') }} as date) as first_month,
        max(reference_dates.reference_month) as reference_month

    from first_dates
    cross join reference_dates

),

months as (

    select
        cast({{ dbt.dateadd('month', 'series.generated_number - 1', 'bounds.first_month') }} as date)
            as month_start,
        bounds.reference_month

    from series
    cross join bounds
    where series.generated_number - 1 <= {{ dbt.datediff('bounds.first_month', 'bounds.reference_month', 'month') }}

),

final as (

    select
        month_start,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month_start')) }} as date) as month_end,
        month_start = reference_month as is_reference_month

    from months

)

select * from final

{#- The as-of date for RFM, lifecycle, tiers and the monthly marts (one row).
    var('reference_date') when set (Airflow passes the data interval end), otherwise the day after
    the latest order_date, so that the last day of data is included. Facts dated on or after the
    reference date are ignored by the classification models. -#}
{%- set reference_date_var = var('reference_date') -%}

with

order_lines as (

    select * from {{ ref('stg_sales__order_lines') }}

),

resolved as (

    select
        coalesce(
            cast({{ dbt.string_literal(reference_date_var) if reference_date_var is not none else 'null' }} as date),
            cast({{ dbt.dateadd('day', 1, 'max(order_date)') }} as date)
        ) as reference_date,
        {{ dbt.string_literal('var' if reference_date_var is not none else 'latest_order_date') }}
            as reference_date_source

    from order_lines

),

final as (

    select
        reference_date,
        reference_date_source,
        cast({{ dbt.dateadd('day', -1, 'reference_date') }} as date) as last_included_date,
        cast({{ dbt.date_trunc('month', dbt.dateadd('day', -1, 'reference_date')) }} as date) as reference_month,
        cast({{ dbt.dateadd('day', -var('active_window_days'), 'reference_date') }} as date) as active_window_start,
        cast({{ dbt.dateadd('day', -var('response_window_days'), 'reference_date') }} as date)
            as response_window_start

    from resolved

)

select * from final

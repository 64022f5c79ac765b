{#-
    Per-customer repeat-purchase summary for the "buy till you die" models fitted by crm.clv
    (BG/NBD for purchase counts, Gamma-Gamma for spend), with the definitions of Fader, Hardie & Lee
    (2005) and Fader & Hardie (2013). Rules and their reasons: _clv__models.yml and docs/clv.md.

    vars
      clv_period_days      days per time period of recency and tenure (7 = weeks, as for CDNOW)
      clv_calibration_end  last day (inclusive) of the calibration period, 'YYYY-MM-DD'; default:
                           the day before var reference_date (the project's exclusive as-of date, as
                           for RFM) when that is set, otherwise the latest order date in fct_sales
-#}
{%- set period_days = var('clv_period_days', 7) -%}
{%- set calibration_end = var('clv_calibration_end', none) -%}
{%- set reference_date = var('reference_date', none) -%}

{%- if period_days is not integer or period_days <= 0 -%}
    {{ exceptions.raise_compiler_error(
        "int_customer_clv_summary: var clv_period_days must be a positive whole number of days per period "
        ~ "(7 = weeks), got '" ~ period_days ~ "'") }}
{%- endif -%}
{%- if calibration_end is not none
        and not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', calibration_end | string) -%}
    {{ exceptions.raise_compiler_error(
        "int_customer_clv_summary: var clv_calibration_end must be the last day of the calibration period "
        ~ "as YYYY-MM-DD, got '" ~ calibration_end ~ "'") }}
{%- endif %}

with

sales as (

    select
        customer_id,
        order_date,
        net_amount,
        is_return
    from {{ ref('fct_sales') }}

),

calibration as (

    {%- if calibration_end is not none %}
        select cast({{ dbt.string_literal(calibration_end) }} as date) as calibration_end_date
    {%- elif reference_date is not none %}
    -- the project's as-of date is exclusive: the calibration ends the day before
        select
            cast({{ dbt.dateadd('day', -1, 'cast(' ~ dbt.string_literal(reference_date) ~ ' as date)') }} as date)
                as calibration_end_date
    {%- else %}
    -- everything observed so far: the calibration period ends on the latest order date
        select max(order_date) as calibration_end_date
        from sales
    {%- endif %}

),

purchase_days as (

    -- One transaction per customer and day: the day's lines and same-day returns net out.
    -- A day counts as a purchase when something was bought (a non-return line) and returns did
    -- not take the day's net below zero; a zero-value day (free goods, an even exchange) is
    -- a purchase with value 0, as the $0 first purchases in CDNOW are.
    select
        sales.customer_id,
        sales.order_date as purchase_date,
        sum(sales.net_amount) as purchase_amount
    from sales
    inner join calibration
        on sales.order_date <= calibration.calibration_end_date
    where sales.customer_id is not null
    group by sales.customer_id, sales.order_date
    having
        sum(sales.net_amount) >= 0
        and {{ dbt.bool_or('not sales.is_return') }}

),

numbered as (

    select
        customer_id,
        purchase_date,
        purchase_amount,
        row_number() over (partition by customer_id order by purchase_date) as purchase_number
    from purchase_days

),

per_customer as (

    select
        customer_id,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        count(*) - 1 as frequency,
        avg(case when purchase_number > 1 then purchase_amount end) as mean_repeat_amount
    from numbered
    group by customer_id

),

final as (

    select
        cast(per_customer.customer_id as {{ api.Column.translate_type('string') }}) as customer_id,
        cast(per_customer.frequency as integer) as frequency,
        cast(
            {{ dbt.datediff('per_customer.first_purchase_date', 'per_customer.last_purchase_date', 'day') }}
            as {{ type_ratio() }}
        ) / {{ period_days }} as recency,
        cast(
            {{ dbt.datediff('per_customer.first_purchase_date', 'calibration.calibration_end_date', 'day') }}
            as {{ type_ratio() }}
        ) / {{ period_days }} as tenure,
        cast(coalesce(per_customer.mean_repeat_amount, 0) as {{ type_ratio() }}) as monetary_value,
        per_customer.first_purchase_date,
        per_customer.last_purchase_date,
        calibration.calibration_end_date,
        cast({{ period_days }} as integer) as period_days
    from per_customer
    cross join calibration

)

select * from final

{#- Orders from the materialised line fact (fct_sales), not from the joined view, which would join
    all lines to the identity links again: at 10M lines the model took 28-30 s from the view and
    10-14 s from fct_sales. The price: a from-scratch run of the RFM path now writes fct_sales first
    (docs/benchmarks.md).

    Incremental (delete+insert on order_id): a run re-aggregates every order that has a line
    fct_sales (re)wrote since this model's last run (fct_sales._computed_at later than the latest
    _computed_at here): new lines, late lines and lines re-linked to another customer. All rows of
    such an order_id are replaced, whatever their customer, so a customer + order pair that lost
    its lines to a re-linked customer is deleted with them. Equals a full refresh as long as raw is
    append-only (as fct_sales; tests/test_dbt_project.py). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='order_id',
        on_schema_change='fail',
    )
}}

with

order_lines as (

    select * from {{ ref('fct_sales') }}

),

{% if is_incremental() %}
    previous_run as (

        select max(_computed_at) as computed_at
        from {{ this }}

    ),

    changed_orders as (

        select distinct fct_sales.order_id
        from {{ ref('fct_sales') }} as fct_sales
        cross join previous_run
        where
            fct_sales._computed_at > previous_run.computed_at
            or previous_run.computed_at is null

    ),
{% endif %}

lines_to_aggregate as (

    select order_lines.*
    from order_lines
    {% if is_incremental() %}
        inner join changed_orders on order_lines.order_id = changed_orders.order_id
    {% endif %}

),

aggregated as (

    select
        {{ dbt.concat(['customer_id', "'|'", 'order_id']) }} as order_key,
        customer_id,
        order_id,
        min(order_date) as order_date,
        count(*) as line_count,
        cast(sum(case when is_return then 1 else 0 end) as {{ dbt.type_bigint() }}) as return_line_count,
        cast(sum(case when is_return then 0 else quantity end) as {{ dbt.type_bigint() }}) as units_sold,
        cast(-sum(case when is_return then quantity else 0 end) as {{ dbt.type_bigint() }}) as units_returned,
        -- sums typed explicitly: PostgreSQL's sum(numeric(18, 4)) is an unconstrained numeric
        cast(sum(gross_amount) as {{ type_money_sum() }}) as gross_amount,
        cast(sum(net_amount) as {{ type_money_sum() }}) as net_amount,
        cast(sum(case when is_return then net_amount else 0 end) as {{ type_money_sum() }}) as returned_amount,
        cast(sum(cost_amount) as {{ type_money_sum() }}) as cost_amount,
        -- margin only over lines with a known cost (a line without unit_cost has no margin)
        cast(sum(net_amount - cost_amount) as {{ type_money_sum() }}) as gross_margin_amount,
        cast(sum(case when cost_amount is not null then net_amount end) as {{ type_money_sum() }})
            as costed_net_amount

    from lines_to_aggregate
    group by customer_id, order_id

),

final as (

    select
        order_key,
        customer_id,
        order_id,
        order_date,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as order_month,
        line_count,
        return_line_count,
        units_sold,
        units_returned,
        gross_amount,
        net_amount,
        returned_amount,
        cost_amount,
        gross_margin_amount,
        costed_net_amount,
        -- an order counts as a purchase only when its lines net to a positive amount: an order made
        -- only of returns (or one whose returns cancel it on the same ticket) is not a purchase
        net_amount > 0 as is_purchase,
        return_line_count = line_count as is_return_only,
        -- when the row was (re)aggregated: the next incremental run's watermark on fct_sales
        {{ dbt.current_timestamp() }} as _computed_at

    from aggregated

)

select * from final

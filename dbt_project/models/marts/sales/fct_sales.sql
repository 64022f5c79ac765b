{#- Incremental: a run processes the lines loaded after the latest _loaded_at already in the
    table, plus any line that is missing (late batch with an older load time) or whose customer was
    re-linked by identity resolution, and replaces them by order_line_id (delete+insert). Raw is
    append-only, so the result equals a full refresh; if raw rows are ever deleted, run with
    --full-refresh (the reconciliation test would fail until then). -#}
{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

order_lines as (

    select * from {{ ref('int_order_lines_joined_to_customers') }}

),

lines_to_process as (

    select order_lines.*
    from order_lines
    {% if is_incremental() %}
        left join {{ this }} as existing_lines
            on order_lines.order_line_id = existing_lines.order_line_id
        where
            order_lines._loaded_at > (select max(loaded._loaded_at) from {{ this }} as loaded)
            or existing_lines.order_line_id is null
            or existing_lines.customer_id <> order_lines.customer_id
    {% endif %}

),

final as (

    select
        order_line_id,
        order_id,
        line_no,
        order_date,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as order_month,
        customer_id,
        customer_ref_type,
        sku,
        product_name,
        category,
        channel,
        salesperson,
        quantity,
        unit_price,
        unit_cost,
        discount,
        is_return,
        original_order_id,
        gross_amount,
        discount_amount,
        net_amount,
        cost_amount,
        cast(net_amount - cost_amount as {{ type_money() }}) as gross_margin_amount,
        match_rule,
        cast(match_probability as {{ type_ratio() }}) as match_probability,
        _source_file,
        _batch_id,
        _loaded_at,
        -- when the line was (re)written: int_order_lines_aggregated_to_orders re-aggregates the
        -- orders of the lines written since its own last run
        {{ dbt.current_timestamp() }} as _computed_at

    from lines_to_process

)

select * from final

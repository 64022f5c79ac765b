with

source as (

    select * from {{ source('raw', 'sales') }}

),

renamed as (

    select
        -- ids
        {{ dbt.concat(['order_id', "'-'", dbt.cast('line_no', api.Column.translate_type('string'))]) }}
            as order_line_id,
        order_id,
        line_no,
        original_order_id,

        -- customer reference as typed by staff, with its detected type and normalised key
        customer_ref,
        customer_ref_type,
        customer_ref_norm,

        -- line
        order_date,
        sku,
        product_name,
        category,
        channel,
        salesperson,
        quantity,
        unit_price,
        unit_cost,
        discount,
        quantity < 0 as is_return,

        -- amounts (signed: negative for returns)
        cast(quantity * unit_price as {{ type_money() }}) as gross_amount,
        {{ money_from_product('quantity * unit_price * coalesce(discount, 0)') }} as discount_amount,
        {{ money_from_product('quantity * unit_price * (1 - coalesce(discount, 0))') }} as net_amount,
        cast(quantity * unit_cost as {{ type_money() }}) as cost_amount,

        -- lineage
        _source_file,
        _source_row,
        _file_sha256,
        _batch_id,
        _loaded_at

    from source

)

select * from renamed

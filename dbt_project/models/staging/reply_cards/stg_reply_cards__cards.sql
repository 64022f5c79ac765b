with

source as (

    select * from {{ source('raw', 'reply_cards') }}

),

renamed as (

    select
        -- ids
        card_id,
        member_id,

        -- contact
        name,
        name_norm,
        phone,
        phone_e164,
        email,
        address,
        address_norm,
        birth_date,

        -- registration
        product_registered,
        purchase_channel,
        purchase_date,
        interests,
        marketing_consent,
        card_received_date,

        -- lineage
        _source_file,
        _source_row,
        _file_sha256,
        _batch_id,
        _loaded_at

    from source

)

select * from renamed

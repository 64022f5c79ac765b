with

reply_cards as (

    select * from {{ ref('int_reply_cards_joined_to_customers') }}

),

final as (

    select
        card_id,
        customer_id,
        card_received_date,
        cast({{ dbt.date_trunc('month', 'card_received_date') }} as date) as card_received_month,
        member_id is not null as has_member_id,
        phone_e164 is not null as has_phone,
        email is not null as has_email,
        address is not null as has_address,
        product_registered,
        purchase_channel,
        purchase_date,
        interests,
        marketing_consent,
        match_rule,
        cast(match_probability as {{ type_ratio() }}) as match_probability,
        _source_file,
        _batch_id,
        _loaded_at

    from reply_cards

)

select * from final

with

cards as (

    select * from {{ ref('stg_reply_cards__cards') }}

),

identity_links as (

    select * from {{ ref('int_customer_identity_links') }}
    where source = 'reply_cards'

),

joined as (

    select
        cards.*,
        identity_links.customer_id,
        identity_links.match_rule,
        identity_links.match_probability

    from cards
    inner join identity_links
        on cards.card_id = identity_links.source_record_id

)

select * from joined

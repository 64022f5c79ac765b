{#- Marketing consent per customer: the latest explicit answer on a reply card wins (latest
    card_received_date, then latest load, then card_id). A blank answer is not consent and does not
    override an earlier explicit one. Customers who never answered have no row. -#}
with

reply_cards as (

    select * from {{ ref('int_reply_cards_joined_to_customers') }}

),

answers as (

    select
        customer_id,
        card_id,
        card_received_date,
        marketing_consent,
        row_number() over (
            partition by customer_id
            order by card_received_date desc nulls last, _loaded_at desc nulls last, card_id desc nulls last
        ) as answer_rank

    from reply_cards
    where marketing_consent is not null

),

final as (

    select
        customer_id,
        marketing_consent,
        card_id as consent_card_id,
        card_received_date as consent_date

    from answers
    where answer_rank = 1

)

select * from final

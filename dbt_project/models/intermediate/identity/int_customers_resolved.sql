{#-
    One row per customer with survivorship attributes: for each attribute the value on the most
    recent record that has one wins (latest last_seen_date, then record_date; ties broken by
    source and source_record_id so the choice is deterministic).
-#}
{%- set attributes = [
    'display_name', 'name_norm', 'phone_e164', 'email', 'member_id', 'customer_type', 'company',
    'industry', 'region', 'birth_date', 'address',
] -%}

with

links as (

    select
        source,
        source_record_id,
        customer_id
    from {{ ref('int_customer_identity_links') }}

),

records as (

    select
        source,
        source_record_id,
        record_date,
        last_seen_date,
        name_norm,
        phone_e164,
        email,
        member_id,
        customer_type,
        company,
        industry,
        region,
        birth_date,
        address,
        marketing_consent,
        nullif(trim(display_name), '') as display_name
    from {{ ref('int_identity__contact_records') }}

),

customer_records as (

    select
        records.*,
        links.customer_id
    from records
    inner join links
        on
        records.source = links.source
        and records.source_record_id = links.source_record_id

),

ranked as (
    -- one ordering of each customer's records, newest first; the records form a total order
    -- (source + source_record_id is unique), so every attribute's winner is the lowest-ranked
    -- record that has a value: one sort instead of one window per attribute

    select
        *,
        row_number() over (
            partition by customer_id
            order by
                last_seen_date desc nulls last,
                record_date desc nulls last,
                source desc nulls last,
                source_record_id desc nulls last
        ) as record_recency
    from customer_records

),

winning_ranks as (

    select
        customer_id,
        {%- for attribute in attributes + ['marketing_consent'] %}
            min(case when {{ attribute }} is not null then record_recency end) as {{ attribute }}_rank,
        {%- endfor %}
        min(record_date) as first_seen_date,
        max(last_seen_date) as last_seen_date,
        concat_ws(
            '+',
            max(case when source = 'questionnaires' then 'questionnaires' end),
            max(case when source = 'reply_cards' then 'reply_cards' end),
            max(case when source = 'sales' then 'sales' end)
        ) as source_coverage,
        sum(case when source = 'questionnaires' then 1 else 0 end) > 0 as has_questionnaires,
        sum(case when source = 'reply_cards' then 1 else 0 end) > 0 as has_reply_cards,
        sum(case when source = 'sales' then 1 else 0 end) > 0 as has_sales,
        count(*) as record_count
    from ranked
    group by customer_id

),

winners as (

    select
        ranked.customer_id,
        {%- for attribute in attributes %}
            max(
                case when ranked.record_recency = winning_ranks.{{ attribute }}_rank then ranked.{{ attribute }} end
            ) as {{ attribute }},
        {%- endfor %}
        max(
            case
                when ranked.record_recency = winning_ranks.marketing_consent_rank and ranked.marketing_consent
                    then 1
                when ranked.record_recency = winning_ranks.marketing_consent_rank and not ranked.marketing_consent
                    then 0
            end
        ) = 1 as marketing_consent
    from ranked
    inner join winning_ranks
        on ranked.customer_id = winning_ranks.customer_id
    group by ranked.customer_id

),

final as (

    select
        winners.*,
        winning_ranks.first_seen_date,
        winning_ranks.last_seen_date,
        winning_ranks.source_coverage,
        winning_ranks.has_questionnaires,
        winning_ranks.has_reply_cards,
        winning_ranks.has_sales,
        winning_ranks.record_count
    from winners
    inner join winning_ranks
        on winners.customer_id = winning_ranks.customer_id

)

select * from final

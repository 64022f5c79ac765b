{#- Lifecycle status per customer as of the reference date; the first rule that holds wins, so
    every customer gets exactly one status:
    1. current   (recent_purchase):  last purchase on or after reference_date - var active_window_days;
    2. target    (lapsed_purchase):  purchased, but only before the active window;
    3. target    (recent_response):  never purchased, answered a questionnaire or sent a reply card on
                                     or after reference_date - var response_window_days;
    4. potential (contact_only):     never purchased and no response in that window (known contact). -#}
with

customers as (

    select * from {{ ref('int_customers_resolved') }}

),

purchase_summaries as (

    select * from {{ ref('int_customers_purchases_summarised') }}

),

questionnaire_responses as (

    select * from {{ ref('int_questionnaire_responses_classified') }}

),

reply_cards as (

    select * from {{ ref('int_reply_cards_joined_to_customers') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

responses as (

    select
        customer_id,
        survey_date as response_date

    from questionnaire_responses

    union all

    select
        customer_id,
        card_received_date as response_date

    from reply_cards

),

last_responses as (

    select
        responses.customer_id,
        max(responses.response_date) as last_response_date

    from responses
    cross join reference_dates
    where responses.response_date < reference_dates.reference_date
    group by responses.customer_id

),

classified as (

    select
        customers.customer_id,
        purchase_summaries.last_purchase_date,
        last_responses.last_response_date,
        case
            when purchase_summaries.last_purchase_date >= reference_dates.active_window_start
                then 'recent_purchase'
            when purchase_summaries.last_purchase_date is not null
                then 'lapsed_purchase'
            when last_responses.last_response_date >= reference_dates.response_window_start
                then 'recent_response'
            else 'contact_only'
        end as lifecycle_reason

    from customers
    cross join reference_dates
    left join purchase_summaries
        on customers.customer_id = purchase_summaries.customer_id
    left join last_responses
        on customers.customer_id = last_responses.customer_id

),

final as (

    select
        customer_id,
        last_purchase_date,
        last_response_date,
        lifecycle_reason,
        case lifecycle_reason
            when 'recent_purchase' then 'current'
            when 'contact_only' then 'potential'
            else 'target'
        end as lifecycle_status

    from classified

)

select * from final

{#- Loyalty level per customer after Dick and Basu (1994), from the latest questionnaire and the
    purchase history as of the reference date:
    - behavioural: repeat purchase = purchases on at least two distinct days (same-day orders merge);
    - affective: latest overall_satisfaction >= var csat_satisfied_min and, when answered,
      latest recommend_score >= var loyalty_recommend_min;
    - cognitive: latest intends_to_repurchase is true.
    Relative attitude is positive when affective and cognitive both hold.
    true_loyalty = repeat + positive attitude; latent_loyalty = positive attitude only;
    spurious_loyalty = repeat only; no_loyalty = neither; unknown = never surveyed. -#}
with

customers as (

    select * from {{ ref('int_customers_resolved') }}

),

purchase_summaries as (

    select * from {{ ref('int_customers_purchases_summarised') }}

),

survey_summaries as (

    select * from {{ ref('int_customers_surveys_summarised') }}

),

dimensions as (

    select
        customers.customer_id,
        survey_summaries.customer_id is not null as has_survey,
        coalesce(purchase_summaries.purchase_days, 0) >= 2 as is_behaviourally_loyal,
        coalesce(
            survey_summaries.latest_overall_satisfaction >= {{ var('csat_satisfied_min') }}
            and coalesce(survey_summaries.latest_recommend_score >= {{ var('loyalty_recommend_min') }}, true),
            false
        ) as is_affectively_loyal,
        coalesce(survey_summaries.latest_intends_to_repurchase, false) as is_cognitively_loyal

    from customers
    left join purchase_summaries
        on customers.customer_id = purchase_summaries.customer_id
    left join survey_summaries
        on customers.customer_id = survey_summaries.customer_id

),

final as (

    select
        customer_id,
        is_behaviourally_loyal,
        case when has_survey then is_affectively_loyal end as is_affectively_loyal,
        case when has_survey then is_cognitively_loyal end as is_cognitively_loyal,
        case
            when not has_survey then 'unknown'
            when is_behaviourally_loyal and is_affectively_loyal and is_cognitively_loyal then 'true_loyalty'
            when is_affectively_loyal and is_cognitively_loyal then 'latent_loyalty'
            when is_behaviourally_loyal then 'spurious_loyalty'
            else 'no_loyalty'
        end as loyalty_level

    from dimensions

)

select * from final

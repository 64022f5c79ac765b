with

customers as (

    select * from {{ ref('int_customers_resolved') }}

),

classifications as (

    select * from {{ ref('int_customers_classified') }}

),

purchase_summaries as (

    select * from {{ ref('int_customers_purchases_summarised') }}

),

rfm as (

    select * from {{ ref('int_customers_rfm_scored') }}

),

survey_summaries as (

    select * from {{ ref('int_customers_surveys_summarised') }}

),

consents as (

    select * from {{ ref('int_customers_consent_resolved') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

clv_scores as (

    select * from {{ ref('stg_clv__customer_scores') }}

),

customers_aged as (

    select
        customers.*,
        floor(
            {{ dbt.datediff('customers.birth_date', 'reference_dates.reference_date', 'day') }} / 365.25
        ) as age_years

    from customers
    cross join reference_dates

),

profiles as (

    select
        customer_id,
        {{ pii_hash('phone_e164') }} as phone_hash,
        {{ pii_hash('email') }} as email_hash,
        {{ mask_name('display_name') }} as display_name_masked,
        {{ mask_phone('phone_e164') }} as phone_masked,
        {{ mask_email('email') }} as email_masked,
        case
            when birth_date is null then null
            when age_years < 20 then 'under_20'
            when age_years < 30 then '20_29'
            when age_years < 40 then '30_39'
            when age_years < 50 then '40_49'
            when age_years < 60 then '50_59'
            else '60_plus'
        end as age_band,
        member_id is not null as has_member_id,
        company,
        industry,
        region,
        first_seen_date,
        source_coverage

    from customers_aged

),

final as (

    select
        profiles.customer_id,
        classifications.reference_date,

        -- identity (no raw PII: salted hashes and masked display forms only)
        profiles.phone_hash,
        profiles.email_hash,
        profiles.display_name_masked,
        profiles.phone_masked,
        profiles.email_masked,
        profiles.has_member_id,
        profiles.age_band,

        -- firmographics
        classifications.customer_type,
        classifications.customer_type_source,
        profiles.company,
        profiles.industry,
        profiles.region,
        profiles.first_seen_date,
        profiles.source_coverage,

        -- purchases (as of the reference date; returns netted out)
        purchase_summaries.first_purchase_date,
        purchase_summaries.last_purchase_date,
        coalesce(purchase_summaries.frequency, 0) as purchase_orders,
        cast(coalesce(purchase_summaries.monetary, 0) as {{ type_money_sum() }}) as net_revenue,
        purchase_summaries.average_order_value,
        cast(coalesce(purchase_summaries.gross_margin_amount, 0) as {{ type_money_sum() }}) as gross_margin_amount,
        {{ safe_divide('purchase_summaries.gross_margin_amount', 'purchase_summaries.costed_net_amount') }}
            as gross_margin_rate,
        coalesce(purchase_summaries.units_returned, 0) as units_returned,

        -- classifications
        rfm.recency_days,
        rfm.r_score,
        rfm.f_score,
        rfm.m_score,
        classifications.rfm_cell,
        classifications.rfm_segment,
        classifications.value_tier,
        classifications.lifecycle_status,
        classifications.lifecycle_reason,
        classifications.loyalty_level,
        classifications.is_churned,
        classifications.defection_reason,

        -- voice of the customer
        survey_summaries.latest_overall_satisfaction as latest_satisfaction,
        survey_summaries.latest_recommend_score,
        classifications.nps_category,
        coalesce(survey_summaries.survey_count, 0) as survey_count,
        coalesce(survey_summaries.complaint_count, 0) as complaint_count,
        coalesce(survey_summaries.unresolved_complaint_count, 0) as unresolved_complaint_count,

        -- consent: the latest explicit reply-card answer; contactable needs consent and a channel
        consents.marketing_consent,
        coalesce(
            consents.marketing_consent and (profiles.phone_hash is not null or profiles.email_hash is not null),
            false
        ) as marketing_contactable,

        -- predicted value (CLV step; null until a customer has been scored)
        clv_scores.probability_alive,
        clv_scores.predicted_clv_12m,
        clv_scores.clv_tier

    from profiles
    inner join classifications
        on profiles.customer_id = classifications.customer_id
    left join purchase_summaries
        on profiles.customer_id = purchase_summaries.customer_id
    left join rfm
        on profiles.customer_id = rfm.customer_id
    left join survey_summaries
        on profiles.customer_id = survey_summaries.customer_id
    left join consents
        on profiles.customer_id = consents.customer_id
    left join clv_scores
        on profiles.customer_id = clv_scores.customer_id

)

select * from final

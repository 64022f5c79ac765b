{#-
    One row per source record that identifies a person, with the keys identity resolution matches on.
    Questionnaires and reply cards: one record per response / card. Sales: one record per distinct
    customer reference (customer_ref_type + customer_ref_norm), dated by its first order.
-#}
with

questionnaires as (

    select
        'questionnaires' as source,
        response_id as source_record_id,
        survey_date as record_date,
        survey_date as last_seen_date,
        cast(null as {{ dbt.type_string() }}) as sales_ref_type,
        respondent_name as display_name,
        nullif(respondent_name_norm, '') as name_norm,
        phone_e164,
        nullif(lower(trim(email)), '') as email,
        cast(null as {{ dbt.type_string() }}) as member_id,
        cast(null as date) as birth_date,
        cast(null as {{ dbt.type_string() }}) as address,
        cast(null as {{ dbt.type_string() }}) as address_norm,
        company,
        nullif(company_norm, '') as company_norm,
        customer_type,
        industry,
        region,
        cast(null as boolean) as marketing_consent
    from {{ ref('stg_questionnaires__responses') }}

),

reply_cards as (

    select
        'reply_cards' as source,
        card_id as source_record_id,
        card_received_date as record_date,
        card_received_date as last_seen_date,
        cast(null as {{ dbt.type_string() }}) as sales_ref_type,
        name as display_name,
        nullif(name_norm, '') as name_norm,
        phone_e164,
        nullif(lower(trim(email)), '') as email,
        nullif(upper(trim(member_id)), '') as member_id,
        birth_date,
        address,
        nullif(address_norm, '') as address_norm,
        cast(null as {{ dbt.type_string() }}) as company,
        cast(null as {{ dbt.type_string() }}) as company_norm,
        cast(null as {{ dbt.type_string() }}) as customer_type,
        cast(null as {{ dbt.type_string() }}) as industry,
        cast(null as {{ dbt.type_string() }}) as region,
        marketing_consent
    from {{ ref('stg_reply_cards__cards') }}

),

sales_refs as (

    select
        customer_ref_type,
        customer_ref_norm,
        min(customer_ref) as customer_ref,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from {{ ref('stg_sales__order_lines') }}
    where customer_ref_norm is not null
    group by customer_ref_type, customer_ref_norm

),

sales as (

    select
        'sales' as source,
        {{ sales_record_id() }} as source_record_id,
        first_order_date as record_date,
        last_order_date as last_seen_date,
        customer_ref_type as sales_ref_type,
        case when customer_ref_type = 'name' then customer_ref end as display_name,
        case when customer_ref_type = 'name' then customer_ref_norm end as name_norm,
        case when customer_ref_type = 'phone' then customer_ref_norm end as phone_e164,
        case when customer_ref_type = 'email' then lower(customer_ref_norm) end as email,
        case when customer_ref_type = 'member_id' then upper(customer_ref_norm) end as member_id,
        cast(null as date) as birth_date,
        cast(null as {{ dbt.type_string() }}) as address,
        cast(null as {{ dbt.type_string() }}) as address_norm,
        cast(null as {{ dbt.type_string() }}) as company,
        cast(null as {{ dbt.type_string() }}) as company_norm,
        cast(null as {{ dbt.type_string() }}) as customer_type,
        cast(null as {{ dbt.type_string() }}) as industry,
        cast(null as {{ dbt.type_string() }}) as region,
        cast(null as boolean) as marketing_consent
    from sales_refs

),

unioned as (

    select * from questionnaires
    union all
    select * from reply_cards
    union all
    select * from sales

)

select
    {{ dbt.concat(['source', "'|'", 'source_record_id']) }} as record_key,
    *
from unioned

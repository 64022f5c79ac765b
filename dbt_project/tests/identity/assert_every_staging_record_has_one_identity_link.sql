-- Every questionnaire response, reply card and sales customer reference in staging has exactly one
-- row in the identity crosswalk, and the crosswalk has no row without a staging record.
with

staging_records as (

    select
        'questionnaires' as source,
        response_id as source_record_id
    from {{ ref('stg_questionnaires__responses') }}

    union all

    select
        'reply_cards' as source,
        card_id as source_record_id
    from {{ ref('stg_reply_cards__cards') }}

    union all

    select distinct
        'sales' as source,
        {{ dbt.concat(['customer_ref_type', "':'", 'customer_ref_norm']) }} as source_record_id
    from {{ ref('stg_sales__order_lines') }}
    where customer_ref_norm is not null

),

link_counts as (

    select
        source,
        source_record_id,
        count(*) as link_count
    from {{ ref('int_customer_identity_links') }}
    group by source, source_record_id

)

select
    coalesce(staging_records.source, link_counts.source) as source,
    coalesce(staging_records.source_record_id, link_counts.source_record_id) as source_record_id,
    staging_records.source is not null as in_staging,
    coalesce(link_counts.link_count, 0) as link_count
from staging_records
full outer join link_counts
    on
        staging_records.source = link_counts.source
        and staging_records.source_record_id = link_counts.source_record_id
where staging_records.source is null or coalesce(link_counts.link_count, 0) <> 1

{#-
    The identity crosswalk: one row per contact record (questionnaire response, reply card, sales
    customer reference) with the customer it belongs to, the strongest rule that links it to another
    record of that customer and that rule's probability.

    customer_id is derived from the customer's anchor record (see docs/identity_resolution.md):
    'C' + the first 16 hex digits of md5(anchor record_key). The anchor of a cluster is the record
    that already was an anchor in the previous run (if the cluster holds several, i.e. customers
    merged, the earliest by record_date, source, source_record_id); a cluster without one takes its
    earliest record. Ids therefore survive re-runs, late-arriving older records and cluster growth;
    when customers merge, the merged customer keeps the id of the earliest-dated anchor.

    The previous run is this table itself, so it is incremental and never rebuilt by --full-refresh
    (drop it on purpose to re-mint every id). Every run recomputes and replaces all rows.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['source', 'source_record_id'],
        full_refresh=false,
        on_schema_change='fail',
    )
}}

with

records as (

    select
        record_key,
        source,
        source_record_id,
        record_date
    from {{ ref('int_identity__contact_records') }}

),

clusters as (

    select
        record_key,
        cluster_key
    from {{ ref('int_identity__record_clusters') }}

),

edges as (

    select
        record_key_l,
        record_key_r,
        match_rule,
        match_probability
    from {{ ref('int_identity__match_edges') }}

),

{% if is_incremental() %}
    previous_anchors as (

        select
            source,
            source_record_id
        from {{ this }}
        where is_anchor

    ),
{% endif %}

members as (

    select
        records.record_key,
        records.source,
        records.source_record_id,
        records.record_date,
        clusters.cluster_key,
        {% if is_incremental() -%}
            previous_anchors.source_record_id is not null
        {%- else -%}
            false
        {%- endif %} as was_anchor
    from records
    inner join clusters on records.record_key = clusters.record_key
    {% if is_incremental() -%}
        -- previous_anchors is referenced in the is_incremental() branch of the select list above
        left join previous_anchors  -- noqa: ST11
            on
            records.source = previous_anchors.source
            and records.source_record_id = previous_anchors.source_record_id
    {%- endif %}

),

anchor_ranks as (

    select
        cluster_key,
        record_key,
        row_number() over (
            partition by cluster_key
            order by
                case when was_anchor then 0 else 1 end,
                record_date,
                source,
                source_record_id
        ) as anchor_rank
    from members

),

customers as (

    select
        cluster_key,
        record_key as anchor_record_key,
        {{ dbt.concat(["'C'", "upper(substr(" ~ dbt.hash('record_key') ~ ", 1, 16))"]) }} as customer_id
    from anchor_ranks
    where anchor_rank = 1

),

incident_edges as (

    select
        record_key_l as record_key,
        match_rule,
        match_probability
    from edges
    union all
    select
        record_key_r as record_key,
        match_rule,
        match_probability
    from edges

),

strongest_edge as (

    select
        record_key,
        match_rule,
        match_probability,
        row_number() over (
            partition by record_key
            order by
                case match_rule
                    when 'member_id' then 1
                    when 'phone' then 2
                    when 'email' then 3
                    else 4
                end,
                match_probability desc nulls last
        ) as edge_rank
    from incident_edges

),

cluster_sizes as (

    select
        cluster_key,
        count(*) as customer_record_count
    from members
    group by cluster_key

)

select
    members.source,
    members.source_record_id,
    customers.customer_id,
    cluster_sizes.customer_record_count,
    members.record_date,
    coalesce(strongest_edge.match_rule, 'new') as match_rule,
    -- double: key edges' 1.0 unions with splink's double probabilities in int_identity__match_edges
    coalesce(strongest_edge.match_probability, 1.0) as match_probability,
    members.record_key = customers.anchor_record_key as is_anchor
from members
inner join customers on members.cluster_key = customers.cluster_key
inner join cluster_sizes on members.cluster_key = cluster_sizes.cluster_key
left join strongest_edge
    on
    members.record_key = strongest_edge.record_key
    and strongest_edge.edge_rank = 1

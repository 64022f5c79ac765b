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
    (drop it on purpose to re-mint every id). Every run recomputes all rows and writes only those
    that differ from the stored ones (delete+insert): new records and the records of customers that
    grew, merged or split. A day's 1% of new sales changes a few percent of the 1.35M rows at 10M
    lines, and rewriting them all cost more than computing them (docs/benchmarks.md).

    linked_at is when the record got its current customer_id: kept from the previous run while the
    customer_id stays, the run's time when it is new or changed (new record, merge, split). fct_sales
    rewrites the lines of the sales references linked after its own last run. A table from before
    this column gets it added by the pre-hook (the table cannot be rebuilt); its records then count
    as linked now, once.
-#}
{#- The stored values of a record's row: a run writes the rows where any of them changed. -#}
{%- set stored_columns = [
    'customer_id', 'customer_record_count', 'record_date', 'match_rule', 'match_probability',
    'is_anchor', 'linked_at',
] -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['source', 'source_record_id'],
        full_refresh=false,
        on_schema_change='fail',
        pre_hook="{{ add_column_if_missing(this, 'linked_at', 'timestamp with time zone') if is_incremental() }}",
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
    previous_links as (

        select
            {%- for column in stored_columns %}
                {{ column }},
            {%- endfor %}
            source,
            source_record_id
        from {{ this }}

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
            {%- for column in stored_columns %}
                previous_links.{{ column }} as previous_{{ column }},
            {%- endfor %}
            coalesce(previous_links.is_anchor, false) as was_anchor
        {%- else -%}
            false as was_anchor
        {%- endif %}
    from records
    inner join clusters on records.record_key = clusters.record_key
    {% if is_incremental() -%}
        -- previous_links is referenced in the is_incremental() branch of the select list above
        left join previous_links  -- noqa: ST11
            on
            records.source = previous_links.source
            and records.source_record_id = previous_links.source_record_id
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

),

links as (

    select
        members.source,
        members.source_record_id,
        customers.customer_id,
        cluster_sizes.customer_record_count,
        members.record_date,
        coalesce(strongest_edge.match_rule, 'new') as match_rule,
        -- double: key edges' 1.0 unions with splink's double probabilities in int_identity__match_edges
        coalesce(strongest_edge.match_probability, 1.0) as match_probability,
        members.record_key = customers.anchor_record_key as is_anchor,
        {% if is_incremental() -%}
            -- the stored row, to write only what changed (final)
            {%- for column in stored_columns %}
                members.previous_{{ column }},
            {%- endfor %}
            -- a previous row without linked_at: a table the pre-hook just gave the column
            case
                when members.previous_customer_id = customers.customer_id
                    then coalesce(members.previous_linked_at, {{ dbt.current_timestamp() }})
                else {{ dbt.current_timestamp() }}
            end
        {%- else -%}
            {{ dbt.current_timestamp() }}
        {%- endif %} as linked_at
    from members
    inner join customers on members.cluster_key = customers.cluster_key
    inner join cluster_sizes on members.cluster_key = cluster_sizes.cluster_key
    left join strongest_edge
        on
        members.record_key = strongest_edge.record_key
        and strongest_edge.edge_rank = 1

),

final as (

    select
        source,
        source_record_id,
        customer_id,
        customer_record_count,
        record_date,
        match_rule,
        match_probability,
        is_anchor,
        linked_at
    from links
    {%- if is_incremental() %}
        -- only what changed: a new record, or any stored value that differs
        where
            previous_customer_id is null
            {%- for column in stored_columns %}
                or {{ column }} is distinct from previous_{{ column }}
            {%- endfor %}
    {%- endif %}

)

select * from final

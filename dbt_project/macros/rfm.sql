{#- Hughes quintile score 1-5 of `value` within `partition_by` (a comma-separated SQL list).

    Rank-based: 1 + floor(5 * percent_rank()), capped at 5. percent_rank gives tied values the
    same rank, so equal values always share a score (no arbitrary tie-breaker), the lowest value
    scores 1 and the highest 5. `higher_is_better=false` reverses the order (recency: fewer days
    is better). With a single scored customer percent_rank is 0, so every score is 1. -#}
{% macro rfm_quintile(value, partition_by, higher_is_better=true) -%}
    least(
        5,
        1 + cast(floor(
            5 * percent_rank() over (
                partition by {{ partition_by }}
                order by {{ value }} {{ 'asc' if higher_is_better else 'desc' }} nulls last
            )
        ) as {{ dbt.type_int() }})
    )
{%- endmacro %}


{#- RFM scoring shared by customer_rfm (one reference date) and customer_rfm_monthly (one per month).

    `from_relation` has one row per customer (per `partition_by`, e.g. snapshot_month) with
    recency_days, frequency (purchase orders) and monetary (net revenue, returns netted out).
    `segment_map` is the relation of the rfm_segment_map seed.

    Customers with no purchase order (returns only) or net monetary <= 0 are not scored: they would
    distort the quintiles of real buyers. They get is_rfm_scored = false, an rfm_exclusion_reason,
    scores 1-1-1 (cell '111') and the segment 'Lost', and are ranked in a partition of their own so
    they never shift anybody else's quintile. -#}
{% macro rfm_scored_select(from_relation, segment_map, partition_by=none) -%}
{%- set partition_list = (partition_by ~ ', ' if partition_by else '') ~ 'is_rfm_scored' -%}
select
    scored.*,
    {{ dbt.concat([
        dbt.cast('scored.r_score', api.Column.translate_type('string')),
        dbt.cast('scored.f_score', api.Column.translate_type('string')),
        dbt.cast('scored.m_score', api.Column.translate_type('string')),
    ]) }} as rfm_cell,
    case when scored.is_rfm_scored then segment_map.rfm_segment else 'Lost' end as rfm_segment

from (

    select
        flagged.*,
        case when flagged.is_rfm_scored
            then {{ rfm_quintile('flagged.recency_days', partition_list, higher_is_better=false) }}
            else 1 end as r_score,
        case when flagged.is_rfm_scored
            then {{ rfm_quintile('flagged.frequency', partition_list) }}
            else 1 end as f_score,
        case when flagged.is_rfm_scored
            then {{ rfm_quintile('flagged.monetary', partition_list) }}
            else 1 end as m_score

    from (

        select
            base.*,
            coalesce(base.frequency > 0 and base.monetary > 0, false) as is_rfm_scored,
            case
                when coalesce(base.frequency, 0) = 0 then 'no_purchase_order'
                when coalesce(base.monetary, 0) <= 0 then 'non_positive_monetary'
            end as rfm_exclusion_reason

        from {{ from_relation }} as base

    ) as flagged

) as scored

left join {{ segment_map }} as segment_map
    on scored.r_score = segment_map.r_score
    and scored.f_score = segment_map.f_score
{%- endmacro %}

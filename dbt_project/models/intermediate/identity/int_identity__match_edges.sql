{#-
    Every edge that links two contact records: the deterministic key edges and the splink pairs
    scoring at or above identity_match_threshold. Connected components over these edges are the
    customers (int_identity__record_clusters).
-#}
with

key_edges as (

    select
        record_key_l,
        record_key_r,
        match_rule,
        match_probability
    from {{ ref('int_identity__key_edges') }}

),

probabilistic_edges as (

    select
        record_key_l,
        record_key_r,
        'probabilistic' as match_rule,
        match_probability
    from {{ ref('int_identity__scored_pairs') }}
    where match_probability >= {{ var('identity_match_threshold') }}

)

select * from key_edges
union all
select * from probabilistic_edges

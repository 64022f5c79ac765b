{#- The seed rfm_segment_map must name exactly one segment for each of the 25 (r_score, f_score)
    pairs, so every scored customer gets a segment. Returns missing or duplicated pairs. -#}
with

scores as (

    select generated_number as score from ({{ dbt.generate_series(5) }}) as series

),

cells as (

    select
        r.score as r_score,
        f.score as f_score

    from scores as r
    cross join scores as f

),

mapped as (

    select
        r_score,
        f_score,
        count(*) as segments

    from {{ ref('rfm_segment_map') }}
    group by r_score, f_score

)

select
    coalesce(cells.r_score, mapped.r_score) as r_score,
    coalesce(cells.f_score, mapped.f_score) as f_score,
    coalesce(mapped.segments, 0) as segments

from cells
full outer join mapped
    on cells.r_score = mapped.r_score
    and cells.f_score = mapped.f_score
where coalesce(mapped.segments, 0) <> 1 or cells.r_score is null

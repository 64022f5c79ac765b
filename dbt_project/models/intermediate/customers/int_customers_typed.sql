{#- Customer type (individual / enterprise / government), first rule that holds:
    1. declared: the type the sources declared (survivorship in int_customers_resolved);
    2. keyword:  a keyword from the customer_type_keywords seed found in the company name
                 (case-insensitive substring; lowest priority number wins, then the longest keyword);
    3. company:  any other company name -> enterprise;
    4. default:  individual. -#}
with

customers as (

    select * from {{ ref('int_customers_resolved') }}

),

keywords as (

    select * from {{ ref('customer_type_keywords') }}

),

keyword_matches as (

    select
        customers.customer_id,
        keywords.customer_type,
        row_number() over (
            partition by customers.customer_id
            order by keywords.priority, {{ dbt.length('keywords.keyword') }} desc, keywords.keyword
        ) as match_rank

    from customers
    inner join keywords
        on {{ dbt.position('lower(keywords.keyword)', 'lower(customers.company)') }} > 0

),

best_keyword_matches as (

    select * from keyword_matches
    where match_rank = 1

),

final as (

    select
        customers.customer_id,
        coalesce(
            customers.customer_type,
            best_keyword_matches.customer_type,
            case when customers.company is not null then 'enterprise' end,
            'individual'
        ) as customer_type,
        case
            when customers.customer_type is not null then 'declared'
            when best_keyword_matches.customer_type is not null then 'keyword'
            when customers.company is not null then 'company'
            else 'default'
        end as customer_type_source

    from customers
    left join best_keyword_matches
        on customers.customer_id = best_keyword_matches.customer_id

)

select * from final

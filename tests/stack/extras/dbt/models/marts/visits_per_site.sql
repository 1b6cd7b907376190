-- Gold over a declared source: dbt reads it with no sources.yml written by hand.
select site, sum(visits) as visits, count(*) as days
from {{ source('silver', 'slv_visits') }}
group by site

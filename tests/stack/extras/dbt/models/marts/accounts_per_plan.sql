-- Gold over a database source.
select plan, count(*) as accounts
from {{ source('silver', 'slv_accounts') }}
group by plan

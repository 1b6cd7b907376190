select c.country, n.country_name, count(*) as customers
from {{ ref('stg_customers') }} c
left join {{ ref('country_names') }} n using (country)
group by all

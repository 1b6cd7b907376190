select status, count(*) as orders, sum(amount) as amount from {{ ref('stg_orders') }} group by all

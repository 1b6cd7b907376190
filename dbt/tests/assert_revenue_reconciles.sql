{{ config(meta={'dagster': {'ref': {'name': 'fct_daily_revenue'}}}) }}
-- The gold models must agree on the money: daily and per-category revenue add up to the same total,
-- the category shares to 1, and the customers' lifetime values to that total minus the orphans' orders.
with daily as (
    select sum(revenue) as revenue from {{ ref('fct_daily_revenue') }}
),

by_category as (
    select sum(revenue) as revenue, sum(revenue_share) as share from {{ ref('fct_category_revenue') }}
),

by_customer as (
    select sum(lifetime_value) as revenue from {{ ref('dim_customers') }}
),

orphans as (
    select coalesce(sum(orders.amount), 0) as revenue
    from {{ source('silver', 'slv_orders') }} as orders
    where {{ is_revenue_order('orders.status') }}
      and orders.customer_id not in (select customer_id from {{ source('silver', 'slv_customers') }})
)

select
    daily.revenue as daily_revenue,
    by_category.revenue as category_revenue,
    by_category.share as category_share,
    by_customer.revenue + orphans.revenue as customer_revenue
from daily, by_category, by_customer, orphans
where daily.revenue <> by_category.revenue
   or daily.revenue <> by_customer.revenue + orphans.revenue
   or (daily.revenue > 0 and abs(by_category.share - 1) > 1e-9)

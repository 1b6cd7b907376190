-- Revenue per order date. Orders from customers missing in the CRM export (orphans) still count:
-- the money came in, whoever the customer was.
with orders as (
    select
        *,
        {{ is_revenue_order('status') }} as is_revenue
    from {{ source('silver', 'slv_orders') }}
)

select
    order_date,
    count(*) filter (where is_revenue) as orders,
    cast(coalesce(sum(quantity) filter (where is_revenue), 0) as bigint) as items,
    cast(coalesce(sum(amount) filter (where is_revenue), 0) as decimal(18, 2)) as revenue,
    count(distinct customer_id) filter (where is_revenue) as customers,
    count(*) filter (where not is_revenue) as lost_orders
from orders
group by order_date

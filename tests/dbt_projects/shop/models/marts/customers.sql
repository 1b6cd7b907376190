select
    customers.customer_id,
    customers.first_name,
    customers.last_name,
    min(orders.order_date) as first_order,
    max(orders.order_date) as most_recent_order,
    count(orders.order_id) as number_of_orders,
    coalesce(sum(orders.amount) filter (where orders.status in {{ "('" ~ var('completed_statuses') | join("', '") ~ "')" }}), 0) as customer_lifetime_value
from {{ ref('stg_customers') }} as customers
left join {{ ref('orders') }} as orders using (customer_id)
group by 1, 2, 3

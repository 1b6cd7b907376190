-- Every order's amount is the sum of its payments.
select orders.order_id
from {{ ref('orders') }} as orders
left join (select order_id, sum(amount) as paid from {{ ref('stg_payments') }} group by 1) as paid using (order_id)
where orders.amount <> coalesce(paid.paid, 0)

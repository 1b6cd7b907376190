select customer_id, country from {{ source('shop', 'slv_customers') }}

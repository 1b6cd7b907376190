{{ config(materialized='incremental', incremental_strategy='append', unique_key='txn_id') }}
select
    txn_id,
    account_id,
    booked_on,
    {{ to_cents('amount') }} as amount_cents,
    kind
from {{ source('raw', 'transactions') }}
{% if is_incremental() %}
where txn_id > (select coalesce(max(txn_id), 0) from {{ this }})
{% endif %}

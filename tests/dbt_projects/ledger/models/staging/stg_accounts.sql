{{ config(materialized='view') }}
select account_id, trim(account_name) as account_name, lower(segment) as segment, opened_on
from {{ source('raw', 'accounts') }}

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['account_id', 'month_start'],
) }}
with months as (
    select
        account_id,
        {{ ledger_utils.month_start('booked_on') }} as month_start,
        sum(amount_cents) filter (where kind = 'invoice') as invoiced_cents,
        -sum(amount_cents) filter (where kind = 'refund') as refunded_cents,
        sum(amount_cents) as net_cents,
        count(*) as transactions
    from {{ ref('stg_transactions') }}
    {% if is_incremental() %}
    -- reprocess the last months already taken in: late transactions land there
    where {{ ledger_utils.month_start('booked_on') }} >= (
        select coalesce(max(month_start), date '1900-01-01') - interval ({{ var('reprocess_months') }}) month from {{ this }})
    {% endif %}
    group by 1, 2
)
select
    account_id,
    month_start,
    coalesce(invoiced_cents, 0) as invoiced_cents,
    coalesce(refunded_cents, 0) as refunded_cents,
    net_cents,
    transactions,
    '{{ var("report_currency") }}' as currency
from months

{% snapshot snap_accounts %}
{{ config(unique_key='account_id', strategy='check', check_cols=['account_name', 'segment']) }}
select * from {{ source('raw', 'accounts') }}
{% endsnapshot %}

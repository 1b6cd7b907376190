{#- Incremental gold models on clawdata's change logs.

    Each silver table has a change log, `_clawdata."<table>__changes"`: for every row a merge
    replaced, added or removed, its old and its new version (columns `_batch`, `_op` and the silver
    columns). The log holds what the gold layer has not yet taken in: clawdata empties it once a
    build has rebuilt every gold model downstream of that table, and passes --full-refresh when gold
    must be rebuilt from scratch (its first build, a full build of a silver table, a model whose code
    changed).

    An incremental model recomputes the groups those rows touch, e.g. a daily aggregate the dates
    of changed orders (old dates and new), and deletes those groups first (`clawdata_delete_changed`
    as a pre-hook), so that a group whose last row went away goes away too. Recomputing a group is
    idempotent: a log read twice (a build that failed half-way) gives the same table.

    A model declares this once, in its config:
        meta={'clawdata': {'recompute': 'order_date', 'changed_in': [['slv_orders', 'order_date']]}}
    `recompute` is the model's column whose groups a build recomputes; `changed_in` lists the
    (silver table, column) pairs whose changed values name those groups. clawdata reads the same
    declaration to run the model's row-level tests on the recomputed rows only
    (src/clawdata/gold/changed_rows.py).
-#}

{% macro clawdata_recompute() -%}
    {{- return((config.get('meta') or {}).get('clawdata') or {}) -}}
{%- endmacro %}

{% macro clawdata_changed(silver_table, column) -%}
    select {{ column }} from {{ adapter.quote('_clawdata') }}.{{ adapter.quote(silver_table ~ '__changes') }}
{%- endmacro %}

{#- The model's `recompute` column (or `column`) is in any of the changed values. Where a log is
    missing (silver not built by clawdata, e.g. `dbt build` run alone), every row counts as changed. -#}
{% macro clawdata_is_changed(column=none) -%}
    {%- set declared = clawdata_recompute() -%}
    {%- set changes = declared['changed_in'] -%}
    {%- if clawdata_logs_exist(changes) -%}
    {{ column or declared['recompute'] }} in (
        {%- for table, changed_column in changes %}
        {{ clawdata_changed(table, changed_column) }}{% if not loop.last %} union{% endif %}
        {%- endfor %}
    )
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{% macro clawdata_logs_exist(changes) -%}
    {%- for table, _ in changes -%}
        {%- if execute and adapter.get_relation(database=target.database, schema='_clawdata', identifier=table ~ '__changes') is none -%}
            {{- return(false) -}}
        {%- endif -%}
    {%- endfor -%}
    {{- return(true) -}}
{%- endmacro %}

{#- Pre-hook of an incremental model: delete the groups that will be recomputed. -#}
{% macro clawdata_delete_changed() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where {{ clawdata_is_changed() }}
    {%- endif -%}
{%- endmacro %}

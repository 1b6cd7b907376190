#!/usr/bin/env python3
"""dagster-webserver, with its pooled Postgres connections checked before use.

The webserver keeps pooled connections to Postgres (`optimize_for_webserver`), and Dagster 1.13 sets
no SQLAlchemy pre-ping on them (dagster issue 33879; PR 33961 proposes `--db-pool-pre-ping`). After a
Postgres restart the first request on a pooled connection then fails with HTTP 500 "server closed the
connection unexpectedly". Measured alternatives: `--db-pool-recycle 0` reconnects on every checkout and
made `clawdata dagster status` 6x slower (88 -> 530 ms); a short recycle only narrows the window (2 s
lost the race to a 1.6 s Postgres restart every time). A ping is one round trip per checkout.

Only the webserver pools connections (the daemon and run workers use NullPool, a new connection each
time), so only it starts through this file. Drop it once dagster-webserver has `--db-pool-pre-ping`.

    clawdata-webserver ARGS...    the same arguments as dagster-webserver
"""

import psycopg2
from sqlalchemy import event, exc
from sqlalchemy.pool import QueuePool


def ping(dbapi_connection, connection_record, connection_proxy) -> None:
    """SQLAlchemy's checkout hook: a DisconnectionError makes the pool reconnect and check out again."""
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except psycopg2.Error as e:
        raise exc.DisconnectionError(f"pooled Postgres connection is dead: {e}".strip()) from e


if __name__ == "__main__":
    event.listen(QueuePool, "checkout", ping)  # every pool of this process: the storages' engines

    from dagster_webserver.cli import main

    main()

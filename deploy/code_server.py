#!/opt/venv/bin/python
"""`dagster code-server start`, with the declared database sources' secrets made available to runs.

A database source reads its password from the environment (CLAWDATA_SOURCE_<NAME>_PASSWORD, or the
driver's own variable such as PGPASSWORD). The compose file hands the deployment's .env to this
service and to the daemon; the daemon's run launcher gives a run container only the variables it is
told about. So before starting, this names every such variable that is set here in the code
location's container context (`docker.env_vars`: names only, never values; the daemon supplies the
values from its own environment), then replaces itself with `dagster code-server start ARGS`.
"""

import json
import os
import sys


def secret_names() -> list[str]:
    from clawdata.sources.database import DatabaseSourceSpec, _DRIVER_PASSWORD
    from clawdata.sources.declarations import specs

    wanted = {s.password_variable for s in specs() if isinstance(s, DatabaseSourceSpec)}
    wanted |= set(_DRIVER_PASSWORD.values())
    return sorted(name for name in wanted if os.environ.get(name))


def main() -> None:
    context = json.loads(os.environ.get("DAGSTER_CONTAINER_CONTEXT") or "{}")
    docker = context.setdefault("docker", {})
    docker["env_vars"] = sorted(set(docker.get("env_vars", [])) | set(secret_names()))
    os.environ["DAGSTER_CONTAINER_CONTEXT"] = json.dumps(context)
    os.execvp("dagster", ["dagster", "code-server", "start", *sys.argv[1:]])


if __name__ == "__main__":
    main()

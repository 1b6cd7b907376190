"""The CPU one evaluation of a sensor costs where the daemon has it evaluated: in the code server,
whose definitions are loaded once at its start. (`clawdata dagster sensor tick` also starts a
process and loads the definitions: its figure is that, plus this.)

    python -m benchmarks.sensor_cost inbox_sensor     # in the environment of a deployment; prints JSON

The first evaluation (no cursor) records the files present; the ones measured start from its cursor,
as every tick of a running deployment does.
"""

import json
import statistics
import sys
import time


def main(name: str, repeats: int = 5) -> dict:
    import dagster as dg

    from clawdata.definitions import defs

    sensor = defs.get_sensor_def(name)
    repository = defs.get_repository_def()
    with dg.DagsterInstance.get() as instance:
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, repository_def=repository))
        cpu, wall = [], []
        for _ in range(repeats):
            context = dg.build_sensor_context(instance=instance, cursor=first.cursor, repository_def=repository)
            c0, w0 = time.process_time(), time.perf_counter()
            result = sensor.evaluate_tick(context)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    return {"cpu_s": statistics.median(cpu), "wall_s": statistics.median(wall), "repeats": repeats,
            "requested_runs": len(result.run_requests or []), "skip_reason": result.skip_message}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "inbox_sensor")))

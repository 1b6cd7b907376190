"""`make bench`: run the benchmarks, print the table, write latest.json, latest.txt and benchmark.png.

    python -m benchmarks.run                          # the full suite (about 40 min on 2 cores: 10M twice)
    python -m benchmarks.run --sizes 100000,1000000   # other sizes
    python -m benchmarks.run --skip-stack             # no Docker at all
    python -m benchmarks.run --quick                  # 100k only, 2 repetitions, short stack part
    python -m benchmarks.run --only-deliveries --delivery-sizes 100000   # INCREMENTAL DELIVERIES alone
    python -m benchmarks.run --render benchmarks/results/latest.json     # the table and chart of a result again

Sections, in order: THROUGHPUT (with INCREMENTAL, REPLICA and START-UP), INCREMENTAL DELIVERIES, the
sample figures of TARGETS, STACK; then the TARGETS table over all of them. Repetitions: 3 per size up to
1M customers, 2 above (--reps overrides). Scratch data goes to benchmarks/.work/ (gitignored); generated
data is kept and reused.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from benchmarks import chart, deliveries, incremental, replica, stack, startup, targets, throughput
from benchmarks.core import Context, machine, now

BENCH_DIR = Path(__file__).resolve().parent
REPO, WORK, RESULTS = BENCH_DIR.parent, BENCH_DIR / ".work", BENCH_DIR / "results"


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(x.replace("_", "")) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--sizes", type=_sizes, default=[100_000, 1_000_000, 10_000_000], help="THROUGHPUT customers (default 100000,1000000,10000000)")
    p.add_argument("--tiny", type=int, default=1000, help="an extra tiny size where overhead dominates (0: none; default 1000)")
    p.add_argument("--reps", type=int, default=None, help="repetitions per size (default 3, and 2 above 1M customers)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--skip-stack", action="store_true", help="no STACK section: Docker is not called at all")
    p.add_argument("--skip-throughput", action="store_true", help="no THROUGHPUT (nor INCREMENTAL, REPLICA, START-UP)")
    p.add_argument("--no-incremental", action="store_true", help="no second run per repetition (no INCREMENTAL)")
    p.add_argument("--skip-targets", action="store_true", help="no sample figures of TARGETS (the table still lists the others)")
    p.add_argument("--restarts", type=int, default=3, help="stack restarts after the first start (default 3)")
    p.add_argument("--launches", type=int, default=5, help="measured run launches (default 5, after 1 warm-up)")
    p.add_argument("--pileup", type=int, default=6, help="runs launched at once for the queue wait (default 6; 0: none)")
    p.add_argument("--delivery-sizes", type=_sizes, default=[1_000_000, 10_000_000],
                   help="INCREMENTAL DELIVERIES customers (default 1000000,10000000)")
    p.add_argument("--skip-deliveries", action="store_true", help="no INCREMENTAL DELIVERIES section")
    p.add_argument("--only-deliveries", action="store_true", help="only INCREMENTAL DELIVERIES")
    p.add_argument("--quick", action="store_true", help="100k customers (deliveries too), 2 repetitions, 1 restart, 3 launches, 3 at once")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for latest.json, latest.txt and benchmark.png")
    p.add_argument("--render", type=Path, metavar="JSON", help="only print the table and draw the chart of a result file")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.delivery_sizes, args.reps = [100_000], [100_000], args.reps or 2
        args.restarts, args.launches, args.pileup = 1, 3, min(args.pileup, 3)
    if args.only_deliveries:
        if args.skip_deliveries:
            p.error("--only-deliveries and --skip-deliveries exclude each other")
        args.skip_throughput = args.skip_stack = args.skip_targets = True
    return args


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def render(result: dict) -> str:
    m, thr = result["machine"], result.get("throughput") or {}
    out = [f"clawdata benchmarks  {result['timestamp']}", f"machine: {m['summary']}",
           f"versions: {', '.join(f'{k} {v}' for k, v in m['versions'].items())}",
           "Each figure: median [min-max] over the repetitions. ratio = platform / floor within the same repetition."]
    sizes = thr.get("sizes") or []
    costs = result.get("startup") or thr.get("components")  # (components: older result files)
    replicas = [{"customers": s["customers"], "in_run_s": (s["platform_steps"].get("warehouse_replica") or {}).get("median"), **s["replica"]}
                for s in sizes if s.get("replica")]
    sections = [sizes and throughput.render(thr), costs and startup.render(costs), sizes and incremental.render(sizes),
                replicas and replica.render(replicas), result.get("deliveries") and deliveries.render(result["deliveries"]),
                result.get("stack") and stack.render(result["stack"]), targets.render(result)]
    return "\n\n".join(["\n".join(out), *(s for s in sections if s)])


def write_outputs(result: dict, out: Path) -> str:
    """The table (printed and in latest.txt) and the chart; returns a line naming the files."""
    text = render(result)
    (out / "latest.txt").write_text(text + "\n")
    print(text)
    try:
        chart.draw(result, out / "benchmark.png")
        return f"chart: {out / 'benchmark.png'}"
    except Exception as e:  # the figures are written whatever happens to the drawing
        return f"chart not drawn: {type(e).__name__}: {e}"


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.render:
        print(write_outputs(json.loads(args.render.read_text()), args.out))
        return 0
    signal.signal(signal.SIGTERM, _interrupt)  # a CI timeout unwinds like Ctrl-C: the stack is removed on the way out
    started = time.perf_counter()
    result = {"timestamp": now(), "machine": machine(),
              "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    _log(f"machine: {result['machine']['summary']}")
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(WORK / "project", ignore_errors=True)  # the dbt project copied afresh (Context.prepare)
    if not args.skip_throughput:
        ctx = Context(REPO, WORK, "throughput", _log).prepare()
        reps_for = (lambda n: args.reps) if args.reps else (lambda n: 3 if n <= 1_000_000 else 2)
        result["throughput"] = throughput.run_all(ctx, args.sizes, args.tiny, args.seed, reps_for, second=not args.no_incremental)
        _log("start-up costs ...")
        result["startup"] = startup.run_all(ctx, result["throughput"]["warm_sample"])
    if not args.skip_deliveries:
        result["deliveries"] = deliveries.run_all(Context(REPO, WORK, "deliveries", _log).prepare(), args.delivery_sizes, args.seed)
    if not args.skip_targets:
        result["targets"] = targets.run_all(Context(REPO, WORK, "targets", _log).prepare())
    if not args.skip_stack:
        result["stack"] = stack.run_all(REPO, WORK, restarts=args.restarts, launches=args.launches, pileup=args.pileup, log=_log)
    result["duration_s"] = time.perf_counter() - started
    result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    (args.out / "latest.json").write_text(json.dumps(result, indent=1, default=str))
    chart_note = write_outputs(result, args.out)
    print(f"\nfigures: {args.out / 'latest.json'}; {chart_note}; took {result['duration_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench`: run the benchmarks, print the table, write benchmarks/results/{latest.json,benchmark.png}.

    python -m benchmarks.run                          # the full suite (about 30 min on 2 cores)
    python -m benchmarks.run --sizes 100000,1000000   # other sizes
    python -m benchmarks.run --skip-stack             # no Docker
    python -m benchmarks.run --quick                  # 100k only, 2 repetitions, short stack part
    python -m benchmarks.run --only-deliveries --delivery-sizes 100000   # INCREMENTAL DELIVERIES alone

Repetitions: 3 per size up to 1M customers, 2 above (--reps overrides); 5 run launches after a warm-up.
A tiny size (1k customers, --tiny) runs too: there the fixed overhead is nearly all of the time.
Scratch data (generated CSV, warehouses, instances, logs) goes to benchmarks/.work/ (gitignored);
generated data is kept and reused.
"""

import argparse
import json
import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import deliveries, report, stack, throughput

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK = BENCH_DIR / ".work"
RESULTS = BENCH_DIR / "results"


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sorted(set(sizes))


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--sizes", type=_sizes, default=[100_000, 1_000_000, 10_000_000], help="customers per size (default 100000,1000000,10000000)")
    p.add_argument("--tiny", type=int, default=1000, help="an extra tiny size where overhead dominates (0: none; default 1000)")
    p.add_argument("--reps", type=int, default=None, help="repetitions per size (default 3, and 2 above 1M customers)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--skip-stack", action="store_true", help="no Docker part")
    p.add_argument("--skip-throughput", action="store_true", help="no THROUGHPUT part (nor its replica and start-up figures)")
    p.add_argument("--no-incremental", action="store_true", help="no second run per repetition")
    p.add_argument("--restarts", type=int, default=3, help="stack restarts after the first start (default 3)")
    p.add_argument("--launches", type=int, default=5, help="measured run launches (default 5, after 1 warm-up)")
    p.add_argument("--delivery-sizes", type=_sizes, default=[1_000_000, 10_000_000],
                   help="customers per size of INCREMENTAL DELIVERIES (default 1000000,10000000)")
    p.add_argument("--skip-deliveries", action="store_true", help="no INCREMENTAL DELIVERIES section")
    p.add_argument("--only-deliveries", action="store_true", help="only INCREMENTAL DELIVERIES (no throughput, no Docker)")
    p.add_argument("--quick", action="store_true", help="100k customers (deliveries too), 2 repetitions, 1 restart, 3 launches")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for latest.json and benchmark.png")
    p.add_argument("--render", type=Path, metavar="JSON", help="only print the table and draw the chart of a result file")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.reps, args.restarts, args.launches = [100_000], args.reps or 2, 1, 3
        args.delivery_sizes = [100_000]
    if args.only_deliveries:
        if args.skip_deliveries:
            p.error("--only-deliveries and --skip-deliveries exclude each other")
        args.skip_throughput = args.skip_stack = True
    return args


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def write_outputs(result: dict, out: Path) -> str:
    """The table (printed and in latest.txt) and the chart; returns a line naming the files."""
    text = report.render(result)
    (out / "latest.txt").write_text(text + "\n")
    print(text)
    try:
        from benchmarks import chart

        chart.draw(result, out / "benchmark.png")
        return f"chart: {out / 'benchmark.png'}"
    except Exception as e:  # the figures are written whatever happens to the drawing
        return f"chart not drawn: {type(e).__name__}: {e}"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        args.out.mkdir(parents=True, exist_ok=True)
        print(write_outputs(json.loads(args.render.read_text()), args.out))
        return 0
    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the stack is removed on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.perf_counter()
    result = {
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": report.machine(),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    _log(f"machine: {result['machine']['summary']}")
    WORK.mkdir(parents=True, exist_ok=True)
    if not args.skip_throughput:
        ctx = throughput.Context(REPO, WORK, log=_log)
        reps_for = (lambda n: args.reps) if args.reps else (lambda n: 3 if n <= 1_000_000 else 2)
        result["throughput"] = throughput.run_all(ctx, args.sizes, args.tiny, args.seed, reps_for, incremental=not args.no_incremental)
    if not args.skip_deliveries:
        result["deliveries"] = deliveries.run_all(REPO, WORK, args.delivery_sizes, args.seed, log=_log)
    if not args.skip_stack:
        result["stack"] = stack.run_all(REPO, WORK, restarts=args.restarts, launches=args.launches, log=_log)
    result["duration_s"] = time.perf_counter() - started
    result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(result, indent=1, default=str))
    chart_note = write_outputs(result, args.out)
    print(f"\nfigures: {args.out / 'latest.json'}; {chart_note}; took {result['duration_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())

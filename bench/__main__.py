"""Run the benchmarks and write their sections into BENCHMARKS.md.

    python -m bench                  # every benchmark, full size (about 15 minutes)
    python -m bench --quick          # every benchmark, small (within 5 minutes)
    python -m bench --only delivery  # one benchmark (repeat --only for more)
    python -m bench --no-write       # print the sections, leave BENCHMARKS.md alone

Each benchmark is a module of this package with `run(quick) -> Section` (see bench/common.py).
A module another change has not added yet is skipped with a note. `--quick` prints as its last
line `delivery p99 ratio vs durable relay: X.XX`. The FAQ quality section has its own command,
`python -m bench.faq_quality`, and is left as it is.
"""

import argparse
import importlib
import sys
import time
import traceback

from .common import progress, write_section

# Name on the command line -> module, in the order they run.
BENCHMARKS = {
    "delivery": "bench.delivery",
    "capacity": "bench.capacity",
    "jira_sync": "bench.jira_sync",
    "sla": "bench.sla",
    "faq_speed": "bench.faq_speed",
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench",
                                     description="Measure the chat's speed and memory and write BENCHMARKS.md.")
    parser.add_argument("--quick", action="store_true", help="small sizes; the whole run within 5 minutes")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (one of {', '.join(BENCHMARKS)}); may repeat")
    parser.add_argument("--no-write", action="store_true", help="print the sections without rewriting BENCHMARKS.md")
    args = parser.parse_args(argv)

    command = "python -m bench" + (" --quick" if args.quick else "") + "".join(
        f" --only {name}" for name in args.only or [])
    names = [name for name in BENCHMARKS if not args.only or name in args.only]
    summaries = {}
    failed = []
    for name in names:
        try:
            module = importlib.import_module(BENCHMARKS[name])
        except ModuleNotFoundError as error:
            if error.name != BENCHMARKS[name]:
                raise
            progress(f"{name}: skipped, {BENCHMARKS[name]} is not there yet")
            continue
        progress(f"{name}: running")
        started = time.monotonic()
        try:
            section = module.run(args.quick)
        except Exception:  # one broken benchmark must not lose the others' figures
            failed.append(name)
            progress(f"{name}: failed\n{traceback.format_exc()}")
            continue
        progress(f"{name}: done in {time.monotonic() - started:.0f} s")
        text = section.markdown(command)
        print(text, flush=True)
        summaries[name] = section.summary
        if not args.no_write:
            write_section(text)
    if failed:
        progress(f"failed: {', '.join(failed)}")
    ratio = summaries.get("delivery", {}).get("p99_ratio_durable")
    if ratio is not None:
        print(f"delivery p99 ratio vs durable relay: {ratio:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

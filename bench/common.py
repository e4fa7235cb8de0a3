"""What every benchmark module shares: the `Section` it returns, percentiles, and BENCHMARKS.md.

Contract of a benchmark module (bench/delivery.py, bench/capacity.py, bench/jira_sync.py, …):

    def run(quick: bool) -> Section

`run` starts what it needs (usually `bench.stack.Stack`), measures, stops everything it started,
and returns a `Section`. It must finish within its time bound: about a minute in quick mode
(`python -m bench --quick` runs every module within five minutes in total), a few minutes in
full mode. It prints progress to stderr if it likes, never a shared secret or a message body.
It raises only for a bug in the benchmark itself. A goal that the product misses is a result:
`Section.missed` lists it, with the reason when it is known.

`python -m bench` writes each section as `## <title>` in BENCHMARKS.md, replacing the section
of the same title and keeping the others (such as "FAQ quality").
"""

import math
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
ARTIFACTS = ROOT / "test-artifacts" / "bench"


@dataclass
class Section:
    """One benchmark's result, as written under `## <title>` in BENCHMARKS.md.

    `body` is markdown: a sentence on what was measured and how, and a table of figures.
    `met` and `missed` list the performance goals, one sentence each. A missed goal states the
    limit and its cause where known. `summary` holds the figures other code reads (e.g. the p99 ratio that
    `--quick` prints last), keyed by a short name.
    """

    title: str
    body: str
    met: list = field(default_factory=list)
    missed: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def markdown(self, command, when=None):
        """Format the section for BENCHMARKS.md, headed by the machine, date and command."""
        when = when or datetime.now(timezone.utc)
        lines = [f"## {self.title}", "",
                 f"Command: `{command}` (from the repository root). Date: {when:%Y-%m-%d %H:%M} UTC. "
                 f"Machine: {machine_description()}.", "", self.body.strip(), ""]
        if self.met or self.missed:
            lines.append("Goals:")
            lines.append("")
            lines += [f"- Met: {goal}" for goal in self.met]
            lines += [f"- Missed: {goal}" for goal in self.missed]
            lines.append("")
        return "\n".join(lines)


def percentile(values, fraction):
    """Return the nearest-rank `fraction` (0–1) percentile of `values`, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def table(header, rows):
    """Return a markdown table of a header tuple and row tuples, each cell passed through str()."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(seconds):
    """Seconds as milliseconds with two decimals, or a dash."""
    return "–" if seconds is None else f"{seconds * 1000:.2f}"


def machine_description():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def write_section(section_text, path=BENCHMARKS):
    """Replace the `## <title>` section of `path` by `section_text`, keeping every other section."""
    title_line = section_text.splitlines()[0].strip()
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((index for index, line in enumerate(lines) if line.strip() == title_line), None)
    if start is None:
        path.write_text(text.rstrip("\n") + "\n\n" + section_text.rstrip("\n") + "\n", encoding="utf-8")
        return
    end = next((index for index in range(start + 1, len(lines)) if lines[index].startswith("## ")), len(lines))
    following = "".join(lines[end:])
    path.write_text("".join(lines[:start]) + section_text.rstrip("\n") + "\n" + ("\n" + following if following else ""),
                    encoding="utf-8")


def progress(message):
    print(message, file=sys.stderr, flush=True)

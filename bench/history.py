"""The record of full benchmark runs, and how often each of issue 5's targets held in it.

On the shared 2-core VM one run decides little: the host's rate moves by more than a target's
margin between two rounds of the same contender (bench/ANALYSIS.md). So every full run appends
its targets to history.jsonl next to RESULTS.md, and RESULTS.md counts across the runs recorded
on the same CPU model, where one run's table can only say what that run's window allowed.

One JSON object per line:
  date      "YYYY-MM-DD HH:MM UTC" of the run (the key: a date is recorded once)
  commit    pipy-rs commit measured, as RESULTS.md names it
  cpu       CPU model (runs on different hosts are not counted together)
  rounds    rounds per contender
  targets   {key: {"value": number, "holds": bool, "allows": number or null}}, keys as in
            bench.target_checks; a target whose scenario did not run is left out
"""

import json
import os
import statistics

HISTORY_NAME = "history.jsonl"
# The target table's scenarios: a run that skipped one is not a full run and is not recorded.
FULL_RUN_SCENARIOS = ("hello", "route", "proxy", "gateway", "large", "memory", "latency")
# The run length issue 5 asks for; shorter runs (quick checks) are not recorded.
FULL_RUN_ROUNDS = 3
FULL_RUN_SECONDS = 10
# RESULTS.md shows the latest runs beside all of them: the code changes between runs, and the
# latest say more about what it does now.
RECENT_RUNS = 10


def on_host(runs, cpu):
    """The runs recorded on CPU model `cpu`, oldest first."""
    return [r for r in runs if r.get("cpu") == cpu]


def measured(runs, key):
    """[(index in `runs`, {"value", "holds", "allows"})] of the runs that measured target `key`."""
    return [(i, r["targets"][key]) for i, r in enumerate(runs) if key in r.get("targets", {})]


def pyplot():
    """matplotlib's pyplot for files (no display), or None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def is_full_run(results, rounds, duration):
    return (rounds >= FULL_RUN_ROUNDS and duration >= FULL_RUN_SECONDS
            and all(s in results and "error" not in results[s] for s in FULL_RUN_SCENARIOS))


def entry(machine, results, checks, rounds):
    """The history line of one run, from its machine record and `bench.target_checks`."""
    return {
        "date": machine["date"],
        "commit": machine.get("commit"),
        "cpu": machine.get("cpu"),
        "rounds": rounds,
        "targets": {c["key"]: {"value": round(c["value"], 4), "holds": c["holds"],
                               "allows": round(c["allows"], 4) if c["allows"] else None}
                    for c in checks if c["value"] is not None},
    }


def load(path):
    """The recorded runs, oldest first; a line that does not parse is skipped, not fatal."""
    runs = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    runs.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        return []
    return sorted(runs, key=lambda r: r.get("date", ""))


def save(path, runs):
    """Writes `runs` (one per date, the later record winning) oldest first."""
    by_date = {r["date"]: r for r in runs}
    with open(path + ".tmp", "w") as f:
        for date in sorted(by_date):
            f.write(json.dumps(by_date[date], ensure_ascii=False, sort_keys=True) + "\n")
    os.replace(path + ".tmp", path)


def record(path, run):
    save(path, load(path) + [run])


def summary_lines(runs, cpu, checks, fmt_value):
    """RESULTS.md's section on the recorded runs on `cpu`: for each target of `checks` (this
    run's, which give the order, labels and wanted text), in how many runs it held and the
    median and range of what was measured. `fmt_value(check, value)` formats one value."""
    same_host = on_host(runs, cpu)
    if not same_host:
        return []
    recent = same_host[-RECENT_RUNS:]
    first, last = same_host[0]["date"], same_host[-1]["date"]
    lines = [
        "## Across runs",
        "",
        f"One run's ratios move with the host's window as much as with the code, so every full "
        f"run (all scenarios, {FULL_RUN_ROUNDS} rounds × {FULL_RUN_SECONDS} s or more) is "
        f"recorded in bench/{HISTORY_NAME}. Counted here: the {len(same_host)} recorded runs on "
        f"this CPU model ({cpu}), {first} to {last}, and the latest {len(recent)} of them. "
        "Older runs measured older code.",
        "",
        f"| target | wanted | latest {len(recent)}: held | latest {len(recent)}: median "
        f"(range) | all {len(same_host)}: held | all {len(same_host)}: median (range) |",
        "|---|---|---|---|---|---|",
    ]
    for check in checks:
        cells = []
        for group in (recent, same_host):
            points = [m for _, m in measured(group, check["key"])]
            if not points:
                cells += ["–", "–"]
                continue
            values = [m["value"] for m in points]
            held = sum(1 for m in points if m["holds"])
            cells += [f"{held} of {len(points)}",
                      f"{fmt_value(check, statistics.median(values))} "
                      f"({fmt_value(check, min(values))} – {fmt_value(check, max(values))})"]
        lines.append(f"| {check['label']} | {check['wanted']} | " + " | ".join(cells) + " |")
    return lines + [""]


def write_chart(runs, cpu, checks, path):
    """One panel per target of `checks`: its value in each recorded run on `cpu`, oldest left,
    against the line it must stay above (ratios) or below (memory, p99), with what CPU 1
    allowed where that was measured. Returns RESULTS.md's line for the chart."""
    same_host = on_host(runs, cpu)
    if len(same_host) < 2:
        return ""
    plt = pyplot()
    if plt is None:
        return "No history chart: matplotlib is not installed."
    panels = [c for c in checks if measured(same_host, c["key"])]
    columns = 4
    rows_count = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows_count, columns, figsize=(4.2 * columns, 3.2 * rows_count),
                                squeeze=False)
    for axis, check in zip(axes.flat, panels):
        points = measured(same_host, check["key"])
        axis.plot([i for i, _ in points], [m["value"] for _, m in points], color="#9e9e9e",
                  linewidth=0.8, zorder=1)
        axis.scatter([i for i, _ in points], [m["value"] for _, m in points], s=14, zorder=2,
                     color=["#2e7d32" if m["holds"] else "#c62828" for _, m in points])
        ceilings = [(i, m["allows"]) for i, m in points if m.get("allows")]
        if ceilings:
            axis.scatter([i for i, _ in ceilings], [a for _, a in ceilings], s=50, marker="_",
                         color="#616161", zorder=2, label="CPU 1 allowed")
            axis.legend(fontsize=6, loc="best")
        axis.axhline(check["target"], color="#1565c0", linestyle="--", linewidth=1)
        if check["key"].endswith("_ms") and all(m["value"] > 0 for _, m in points):
            # A contended window's p99 is tens of times the others'.
            axis.set_yscale("log")
        held = sum(1 for _, m in points if m["holds"])
        axis.set_title(f"{check['label']} {check['wanted']}\nheld in {held} of {len(points)}",
                       fontsize=9)
        axis.tick_params(labelsize=7)
        axis.set_xlabel("run (oldest left)", fontsize=7)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    figure.suptitle(f"Issue 5's targets over {len(same_host)} recorded runs "
                    f"({same_host[0]['date']} to {same_host[-1]['date']}; green: held)",
                    fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return f"![history]({os.path.basename(path)})"


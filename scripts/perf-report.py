#!/usr/bin/env python3
"""Turn the JSONL written by scripts/bench-compare into tables, docs/PERFORMANCE.md and charts.

    scripts/perf-report.py RESULTS.jsonl --table                      Parley/go-hub ratio table on stdout
    scripts/perf-report.py RESULTS.jsonl --markdown docs/PERFORMANCE.md --charts docs/perf

The first line of RESULTS.jsonl is the machine description ("event": "meta"); every other line is one
load-generator result with the server, scenario and command lines added. Lines marked "discarded" (a run
disturbed by other processes, then retried) are counted but not reported.
"""

import argparse
import json
import os
import re
import sys

SERVERS = ["parley", "parley-mem", "go-hub", "go-naive", "node-ws"]
LABELS = {
    "parley": "Parley (file SQLite)",
    "parley-mem": "Parley (memory SQLite)",
    "go-hub": "go-hub",
    "go-naive": "go-naive",
    "node-ws": "node-ws",
}
TOPOLOGIES = ["100x10", "10x100", "1x1000"]
BASELINE = "go-hub"


def load(path):
    meta, runs, discarded = {}, [], 0
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            if d.get("event") == "meta":
                meta = d
            elif d.get("event"):
                continue
            elif d.get("discarded"):
                discarded += 1
            else:
                runs.append(d)
    return meta, runs, discarded


def kind(d):
    """closed / fixed / idle / connect / storm, or None for a run without a result."""
    if "all_back_s" in d:
        return "storm"
    if d.get("mode") == "idle":
        return "connect" if str(d.get("scenario", "")).startswith("connect-") else "idle"
    if d.get("mode") == "fanout":
        return "fixed" if d.get("loop") == "open" else "closed"
    return None


def index(runs):
    """{(kind, scenario): {server: run}}; the last run wins."""
    out = {}
    for d in runs:
        k = kind(d)
        if k:
            out.setdefault((k, d["scenario"]), {})[d["server"]] = d
    return out


def servers_in(runs):
    seen = {d["server"] for d in runs}
    return [s for s in SERVERS if s in seen] + sorted(seen - set(SERVERS))


def ratio(a, b):
    if a is None or b in (None, 0):
        return "–"
    return f"{a / b:.2f}×"


def num(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def old_table(runs):
    """The table bench-compare always printed: Parley (file SQLite) next to go-hub."""
    rows = {}
    for d in runs:
        k = kind(d)
        if not k:
            continue
        if k == "idle":
            shape = f"idle {d['conns'] // 1000}k"
        elif k == "connect":
            shape = f"connect 10k into {d['rooms']:,} rooms"
        elif k == "storm":
            shape = "storm"
        else:
            shape = f"{d['rooms']}x{d['members']}" + (" @50k" if k == "fixed" else "")
        rows.setdefault(shape, {})[d["server"]] = d
    print("| shape | parley | go-hub | ratio |\n| --- | --- | --- | --- |")
    storm, plain = rows.get("storm", {}).get("parley"), rows.get("connect 10k into 100 rooms", {}).get("go-hub")
    if storm and plain:
        print(f"| storm all back s vs go-hub 10k connects s | {num(storm.get('all_back_s'), 2)} | {num(plain.get('connect_s'), 2)} | "
              f"{ratio(storm.get('all_back_s'), plain.get('connect_s'))} |")
    for shape, by in rows.items():
        p, g = by.get("parley"), by.get("go-hub")
        if not p or not g:
            continue
        if shape.startswith("connect"):
            pc, gc = p.get("conn_per_s"), g.get("conn_per_s")
            print(f"| {shape} connects/s | {num(pc)} | {num(gc)} | {ratio(pc, gc)} |")
        elif shape.startswith("idle"):
            pk, gk = p.get("rss_per_conn_kb"), g.get("rss_per_conn_kb")
            print(f"| {shape} KB/conn | {num(pk, 1)} | {num(gk, 1)} | {ratio(pk, gk)} |")
        elif "@" in shape:
            print(
                f"| {shape} CPU % / p99 ms | {p.get('srv_cpu_pct')} / {num(p.get('p99_ms'), 1)} | "
                f"{g.get('srv_cpu_pct')} / {num(g.get('p99_ms'), 1)} | {ratio(p.get('srv_cpu_pct'), g.get('srv_cpu_pct'))} CPU |"
            )
        else:
            pd, gd = p.get("deliveries_per_s"), g.get("deliveries_per_s")
            print(f"| {shape} deliveries/s | {num(pd)} | {num(gd)} | {ratio(pd, gd)} |")


def flags(d):
    notes = []
    if d.get("error"):
        notes.append(d["error"])
    for key in ("errors", "failures", "ack_timeouts", "dropped_during_hold"):
        if d.get(key):
            notes.append(f"{key} {d[key]}")
    if d.get("loss_pct"):
        notes.append(f"loss {d['loss_pct']} %")
    if (d.get("other_cpu_pct") or 0) > 10:
        notes.append(f"other processes {d['other_cpu_pct']} % CPU")
    return "; ".join(notes) or "–"


def with_rows(header, by, servers, cells):
    """A Markdown table: `header` (its two first lines), then a row for each server with a result: its label,
    then `cells(d)`."""
    lines = list(header)
    for s in servers:
        d = by.get(s)
        if d:
            lines.append(f"| {LABELS.get(s, s)} | " + " | ".join(cells(d)) + " |")
    return lines


def closed_table(by, servers):
    base = by.get(BASELINE, {}).get("deliveries_per_s")
    header = (
        "| server | deliveries/s | vs go-hub | p50 ms | p99 ms | server CPU % | loadgen CPU % | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    )
    return with_rows(header, by, servers, lambda d: [
        num(d.get("deliveries_per_s")), ratio(d.get("deliveries_per_s"), base), num(d.get("p50_ms"), 2),
        num(d.get("p99_ms"), 2), num(d.get("srv_cpu_pct"), 1), num(d.get("lg_cpu_pct"), 1), flags(d),
    ])


def fixed_table(by, servers):
    g = by.get(BASELINE, {})
    header = (
        "| server | deliveries/s | p50 ms | p99 ms | p99 vs go-hub | server CPU % | CPU vs go-hub | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    )
    return with_rows(header, by, servers, lambda d: [
        num(d.get("deliveries_per_s")), num(d.get("p50_ms"), 2), num(d.get("p99_ms"), 2),
        ratio(d.get("p99_ms"), g.get("p99_ms")), num(d.get("srv_cpu_pct"), 1),
        ratio(d.get("srv_cpu_pct"), g.get("srv_cpu_pct")), flags(d),
    ])


def idle_table(by, servers, base):
    header = (
        "| server | connected | KB per connection | vs go-hub (10k) | server RSS after, MB | connects/s | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    )

    def cells(d):
        rss = d.get("srv_rss_end_kb")
        return [
            num(d.get("ok")), num(d.get("rss_per_conn_kb"), 1), ratio(d.get("rss_per_conn_kb"), base),
            num(rss / 1024 if rss else None, 0), num(d.get("conn_per_s")), flags(d),
        ]

    return with_rows(header, by, servers, cells)


def connect_table(by, servers):
    base = by.get(BASELINE, {}).get("conn_per_s")
    header = (
        "| server | connected | connects/s | vs go-hub | seconds | server CPU % | loadgen CPU % | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    )
    return with_rows(header, by, servers, lambda d: [
        num(d.get("ok")), num(d.get("conn_per_s")), ratio(d.get("conn_per_s"), base), num(d.get("connect_s"), 2),
        num(d.get("srv_cpu_pct"), 1), num(d.get("lg_cpu_pct"), 1), flags(d),
    ])


def storm_table(by, servers, plain):
    """`parley bench --storm` rows; `plain` is go-hub's 10,000 plain connects into 100 rooms, the target's yardstick."""
    base = plain.get("connect_s") if plain else None
    header = (
        "| server | back | all back s | vs go-hub's 10k connects | connects/s | caught up s | gaps | duplicates | lost nicks | bench CPU % | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    )

    def cells(d):
        notes = [n for n in [flags(d) if flags(d) != "–" else None, d.get("first_error")] if n]
        notes += [f"{key} {d[key]}" for key in ("behind", "reorders", "failed") if d.get(key)]
        return [
            f"{num(d.get('rejoined'))} of {num(d.get('connections'))}", num(d.get("all_back_s"), 2),
            ratio(d.get("all_back_s"), base), num(d.get("connects_per_s")), num(d.get("caught_up_s"), 2),
            num(d.get("gaps")), num(d.get("duplicates")), num(d.get("lost_nicks")), num(d.get("cpu_pct"), 0),
            "; ".join(notes) or "–",
        ]

    return with_rows(header, by, servers, cells)


def sanitize(text, roots):
    for root in roots:
        if root:
            text = text.replace(root.rstrip("/") + "/", "")
    return re.sub(r"--server-pid \d+", "--server-pid PID", text)


def short(v):
    """1234567 -> 1.2M, 45300 -> 45k, 2.345 -> 2.3"""
    if v >= 1e6:
        return f"{v / 1e6:.1f}M"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}"


def charts(runs, servers, folder):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(folder, exist_ok=True)
    by = index(runs)
    colors = {
        "parley": "#d9534f",
        "parley-mem": "#f0ad4e",
        "go-hub": "#337ab7",
        "go-naive": "#5bc0de",
        "node-ws": "#5cb85c",
    }
    files = []

    def grouped(name, title, ylabel, value, kinds, log=False):
        fig, axes = plt.subplots(1, len(kinds), figsize=(max(8.0, 5.6 * len(kinds)), 4.4), squeeze=False)
        for ax, (k, subtitle) in zip(axes[0], kinds):
            width = 0.8 / max(len(servers), 1)
            for i, s in enumerate(servers):
                xs, ys = [], []
                for t, topology in enumerate(TOPOLOGIES):
                    d = by.get((k, topology), {}).get(s)
                    v = value(d) if d else None
                    if v:
                        xs.append(t + (i - (len(servers) - 1) / 2) * width)
                        ys.append(v)
                bars = ax.bar(xs, ys, width, label=LABELS.get(s, s), color=colors.get(s))
                ax.bar_label(bars, labels=[short(y) for y in ys], fontsize=6, rotation=90, padding=2)
            ax.set_xticks(range(len(TOPOLOGIES)), TOPOLOGIES)
            ax.set_xlabel("rooms × members")
            ax.set_title(subtitle, fontsize=10)
            ax.set_ylabel(ylabel)
            if log:
                ax.set_yscale("log")
            ax.margins(y=0.25)
            ax.grid(axis="y", alpha=0.3)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
        fig.suptitle(title, fontsize=11)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        path = os.path.join(folder, name)
        fig.savefig(path, dpi=110, metadata={"Software": None})
        plt.close(fig)
        files.append(path)

    grouped(
        "throughput.png",
        "Closed-loop fan-out, window 128: deliveries per second (higher is better)",
        "deliveries/s",
        lambda d: d.get("deliveries_per_s"),
        [("closed", "closed loop, window 128")],
    )
    grouped(
        "latency-p99.png",
        "p99 latency, send to receive (lower is better; log scale)",
        "p99 ms",
        lambda d: d.get("p99_ms"),
        [("closed", "closed loop, window 128"), ("fixed", "open loop, 50,000 deliveries/s")],
        log=True,
    )
    return files


def markdown(path, meta, runs, discarded, chart_files, source):
    servers = servers_in(runs)
    by = index(runs)
    out = []
    w = out.append
    w("# Parley's performance beside the shared peers")
    w("")
    w("Generated by `scripts/bench-compare` (which calls `scripts/perf-report.py`) from one run; do not edit by hand,")
    w("run the script again. Raw results: [`perf/results.jsonl`](perf/results.jsonl).")
    if meta.get("quick"):
        w("")
        w("**This was a `--quick` run (3 s measured per fan-out run): a check of the script, not figures to quote.**")
    disturbed = [d for d in runs if (d.get("other_cpu_pct") or 0) > 10]
    if disturbed:
        worst = max(d["other_cpu_pct"] for d in disturbed)
        w("")
        w(f"**{len(disturbed)} of {len(runs)} runs were disturbed by other processes on this shared machine** (up to")
        w(f"{worst:.0f} % of a CPU used by others during a run; see the notes column). Their figures understate what")
        w("the servers can do and are not comparable with a quiet run: run the script again on an idle machine.")
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("| --- | --- |")
    w(f"| date (UTC) | {meta.get('stamp', '?')} |")
    w(f"| CPUs (`nproc`) | {meta.get('nproc', '?')} |")
    w(f"| CPU model | {meta.get('cpu_model', '?')} |")
    w(f"| memory | {meta.get('memory_gib', '?')} GiB |")
    w(f"| kernel | {meta.get('kernel', '?')} |")
    w(f"| open files per process (hard limit) | {meta.get('nofile_hard', '?')} |")
    w(f"| Swift | {meta.get('swift', '?')} |")
    w(f"| Go (peers, load generator) | {meta.get('go', '?')} |")
    w(f"| node (node-ws) | {meta.get('node', '?')} |")
    dirty = " (with uncommitted changes)" if meta.get("parley_dirty") else ""
    w(f"| Parley commit | `{meta.get('parley_commit', '?')}`{dirty} |")
    w("")
    w("## How it was measured")
    w("")
    w("The load generator and the three peers are the shared ones (`../shared/bench`, described in its README);")
    w("`scripts/bench-compare` copies and builds them offline in `.build-bench/`. Every run starts a fresh server")
    w("pinned to CPU 0 (`nice -n -15 taskset -c 0`) and the load generator pinned to CPU 1; all traffic is on")
    w(f"127.0.0.1. Before each run the script waits (up to {meta.get('quiet_max_s', 30)} s) for the machine to be idle; a run")
    w(f"during which other processes used more than 10 % of a CPU is kept in the JSONL as discarded and run again")
    w(f"(up to {meta.get('retries', 1)} times); the last attempt is reported, with a note when it was still disturbed.")
    w(f"Runs kept: {len(runs)}; discarded and retried: {discarded}.")
    w("")
    w("* **Closed loop**: one publisher per room keeps 128 messages in flight; a message completes when every")
    w("  member has it. All servers echo to the sender, so one message is `members` deliveries. On two CPUs the")
    w("  server and the load generator are both near saturation, so this is the maximum of the pair.")
    w("* **Open loop at 50,000 deliveries/s**: the same load for every server (5,000 / 500 / 50 messages/s),")
    w("  for like-for-like latency and server CPU.")
    w("* **Idle**: N connections over 100 rooms, held; KB per connection = (server RSS at the end of the hold")
    w("  − RSS of the fresh server) / N. 19,000 is close to the 20,000 open files a process may have here.")
    w("  *connects/s* is not like for like: Parley tells the members of a room about every join (the contract's")
    w("  `join` event) and greets each newcomer with `welcome`, while the peers send nothing when someone")
    w("  connects. Filling 100 rooms with 100 members each (10,000 connections) makes 495,000 `join` frames,")
    w("  most of them a write of their own; in a profile of that run at commit 33702d9, writing them was over")
    w("  half of Parley's CPU.")
    w("* Latency is measured in the load generator from just before the write to the read of the frame, so it")
    w("  includes the generator's own scheduling. Differences under about 20 % are within run-to-run noise on")
    w("  this shared machine (see the shared bench README).")
    w("")
    w("### Command lines")
    w("")
    w("```")
    env = ""
    if meta.get("quiet_max_s", 30) != 30:
        env += f"PARLEY_BENCH_QUIET_MAX={meta['quiet_max_s']} "
    if meta.get("retries", 1) != 1:
        env += f"PARLEY_BENCH_RETRIES={meta['retries']} "
    w(env + "scripts/bench-compare" + (" --quick" if meta.get("quick") else ""))
    w("```")
    w("")
    w("Servers (each started as `nice -n -15 taskset -c 0 COMMAND`):")
    w("")
    w("```")
    starts = {}
    for d in runs:
        starts.setdefault(d["server"], d.get("server_cmd", ""))
    # Commands are shown relative to the checkout, wherever the report is generated from.
    roots = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.getcwd()]
    for s in servers:
        w(f"{s}: {sanitize(starts.get(s, ''), roots)}")
    w("```")
    w("")
    w("Load generator, one line per scenario (the same for every server; PID is the server's):")
    w("")
    w("```")
    seen = []
    for d in runs:
        cmd = sanitize(d.get("cmd", ""), roots)
        if cmd and cmd not in seen:
            seen.append(cmd)
    for cmd in seen:
        w(cmd)
    w("```")
    w("")
    w("## Results")
    w("")
    for file in chart_files:
        rel = os.path.relpath(file, os.path.dirname(path) or ".")
        w(f"![{os.path.basename(file)}]({rel})")
        w("")
    for topology in TOPOLOGIES:
        if ("closed", topology) in by:
            w(f"### Closed loop, {topology} (rooms × members), window 128")
            w("")
            out.extend(closed_table(by[("closed", topology)], servers))
            w("")
    for topology in TOPOLOGIES:
        if ("fixed", topology) in by:
            w(f"### Open loop at 50,000 deliveries/s, {topology}")
            w("")
            out.extend(fixed_table(by[("fixed", topology)], servers))
            w("")
    base = by.get(("idle", "idle-10000"), {}).get(BASELINE, {}).get("rss_per_conn_kb")
    for scenario in sorted((s for k, s in by if k == "idle"), key=lambda s: int(s.split("-")[1])):
        n = int(scenario.split("-")[1])
        w(f"### Idle, {n:,} connections")
        w("")
        out.extend(idle_table(by[("idle", scenario)], servers, base))
        w("")
    for scenario in sorted((s for k, s in by if k == "connect"), key=lambda s: int(s.split("-")[1])):
        rooms = int(scenario.split("-")[1])
        w(f"### Connecting, 10,000 connections into {rooms:,} rooms")
        w("")
        out.extend(connect_table(by[("connect", scenario)], servers))
        w("")
    if ("storm", "storm-10000") in by:
        w("### Reconnect storm, 10,000 members in 100 rooms")
        w("")
        w("`parley bench --storm` (the peers cannot resume, so it runs against Parley with a file database): every")
        w("member connects and receives 20 messages; the server is killed with `-9` and started again on the same")
        w("database; one announcer per room posts 5 messages; then all 10,000 reconnect at once (64 dials at a time,")
        w("the per-address limit) with `since` and `session`. *All back* runs from the restarted server listening")
        w("to the last `welcome`; the target is at most 2× go-hub's time for 10,000 plain connects into 100 rooms.")
        w("Each member checks that its `welcome` gives back its nick and holds exactly the ids it missed.")
        w("")
        out.extend(storm_table(by[("storm", "storm-10000")], servers, by.get(("connect", "connect-100"), {}).get(BASELINE)))
        w("")
    w("Full per-run fields (CPU busy and softirq per CPU, send lag, loss, RSS) are in the JSONL; the shared")
    w("`tools/table.py` reads it too.")
    w("")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    kept = hand_written(path)
    with open(path, "w") as f:
        f.write("\n".join(out))
        if kept:
            f.write("\n" + kept)
    # The raw results beside the charts, with repository paths made relative.
    raw = os.path.join(os.path.dirname(path) or ".", "perf", "results.jsonl")
    os.makedirs(os.path.dirname(raw), exist_ok=True)
    with open(source) as src, open(raw, "w") as dst:
        for line in src:
            dst.write(sanitize(line, roots))


GENERATED_SECTIONS = {"## Machine", "## How it was measured", "## Results"}


def hand_written(path):
    """The sections written by hand at the end of an existing report (from its first `## ` heading that this
    script does not write), kept when the report is generated again."""
    try:
        lines = open(path).read().split("\n")
    except OSError:
        return ""
    for i, line in enumerate(lines):
        if line.startswith("## ") and line.strip() not in GENERATED_SECTIONS:
            return "\n".join(lines[i:])
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--table", action="store_true", help="print the Parley/go-hub ratio table")
    ap.add_argument("--markdown", help="write this Markdown report (and perf/results.jsonl beside it)")
    ap.add_argument("--charts", help="write PNG charts into this folder")
    a = ap.parse_args()
    meta, runs, discarded = load(a.results)
    if not runs:
        sys.exit(f"perf-report: no results in {a.results}")
    if a.table:
        old_table(runs)
    chart_files = charts(runs, servers_in(runs), a.charts) if a.charts else []
    if a.markdown:
        markdown(a.markdown, meta, runs, discarded, chart_files, a.results)
        print(f"wrote {a.markdown}" + (f" and {len(chart_files)} charts in {a.charts}" if chart_files else ""), file=sys.stderr)


if __name__ == "__main__":
    main()

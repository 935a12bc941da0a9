#!/usr/bin/env python3
"""Turn bench/results.jsonl into a markdown report with ratios and a PNG plot.

    python bench/report.py results.jsonl results.md results.png
"""
import json
import statistics
import sys
from collections import defaultdict

SERVERS = ["rust", "cpptango-tangotest", "pytango"]
NAMES = {"rust": "ours (Rust)", "cpptango-tangotest": "cppTango TangoTest", "pytango": "PyTango"}
SCEN = ["read_long", "read_double", "write_double", "cmd_string", "cmd_sink", "events"]


def median_row(reps):
    """One row from the repetitions of a measurement (REPEAT in run.sh): the median of every
    number, the first value of anything else; `reps` keeps the repetitions themselves."""
    out = dict(reps[0])
    for k, v in reps[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "rep":
            vals = [r[k] for r in reps if isinstance(r.get(k), (int, float))]
            out[k] = statistics.median(vals) if vals else v
    out["reps"] = reps
    return out


def grouped(rows, key):
    groups = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    return {k: median_row(v) for k, v in groups.items()}


def load(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    startup = grouped([r for r in rows if "start_to_first_call_s" in r], lambda r: (r["label"], r["placement"]))
    runs = grouped([r for r in rows if "procs" in r], lambda r: (r["label"], r["placement"], r["scenario"], r["procs"]))
    loadgen = list(grouped([r for r in rows if r.get("label") == "tango-loadgen"], lambda r: r["placement"]).values())
    config_path = [r for r in rows if r.get("label") == "config-path"]
    controller = [r for r in rows if r.get("label") == "controller-scale"]
    cascade = [r for r in rows if r.get("label") == "controller-cascade"]
    cluster = [r for r in rows if r.get("label") == "cluster-path"]
    database = [r for r in rows if r.get("label") == "database"]
    tmc = [r for r in rows if r.get("label") == "tmc-sequence"]
    return startup, runs, loadgen, config_path, controller, cascade, cluster, database, tmc


def database_table(rows):
    """Issue #18: one PyTango client against each database; the embedded one relative to the C++
    one by median latency (robust to the other builds sharing this VM's two CPUs) and by the
    database processes' CPU per operation (what bounds the rate a database can serve)."""
    kinds = ["embedded", "mariadb", "pytango"]
    by = {(r["kind"], r["scenario"]): r for r in rows}
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    out = ["## Tango database (`bench/database.py`: embedded vs C++ DataBaseds on MariaDB vs PyTango sqlite; "
           "one client on cpu1, database on cpu0)", "",
           "| command | embedded | C++ DataBaseds + MariaDB | PyTango sqlite | embedded vs C++: p50 rate | : CPU per op |",
           "|---|---|---|---|---|---|"]
    for sc in scenarios:
        cells = []
        for k in kinds:
            r = by.get((k, sc))
            if r is None:
                cells.append("–")
            elif "ops_per_s" in r:
                cpu = f", {r['server_cpu_us_per_op']:.0f} µs CPU" if r.get("server_cpu_us_per_op") is not None else ""
                cells.append(f"{r['ops_per_s']:.0f} ops/s mean (p50 {r['p50_us']:.0f} µs{cpu})")
            else:
                cells.append(f"{r['seconds']} s" + ("" if r.get("complete", True) else " (incomplete)"))
        us, cpp = by.get(("embedded", sc)), by.get(("mariadb", sc))
        fast = cpu = "–"
        if us and cpp and "p50_us" in us:
            fast = f"{cpp['p50_us'] / us['p50_us']:.2f}×"
            if us.get("server_cpu_us_per_op"):
                cpu = f"{cpp['server_cpu_us_per_op'] / us['server_cpu_us_per_op']:.2f}×"
        elif us and cpp:
            fast = f"{cpp['seconds'] / us['seconds']:.2f}×"
        out.append(f"| {sc} | " + " | ".join(cells) + f" | {fast} | {cpu} |")
    out += ["", "(> 1× = the embedded database is faster / uses less CPU. µs CPU = user + system time of the "
            "database's processes per operation, from /proc; for the C++ one DataBaseds and mariadbd together.)", ""]
    return out


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "–"


def ratio_spread(us, them, field):
    """The ratio of medians, and with repetitions the range of the per-repetition ratios
    (repetition i of ours against repetition i of theirs: they ran back to back)."""
    if not us or not them:
        return "–"
    r = ratio(us.get(field), them.get(field))
    pairs = [(a.get(field), b.get(field)) for a, b in zip(us["reps"], them["reps"]) if a.get(field) and b.get(field)]
    if len(pairs) > 1:
        each = [a / b for a, b in pairs]
        r += f" ({min(each):.2f}–{max(each):.2f})"
    return r


def fmt(v, nd=0):
    return "–" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def main(src, md_path, png_path):
    startup, runs, loadgen, config_path, controller, cascade, cluster, database, tmc = load(src)
    scale_png = png_path[:-4] + "-scale.png" if png_path.endswith(".png") else png_path + "-scale.png"
    placements = sorted({k[1] for k in runs} | {k[1] for k in startup})
    procs = sorted({k[3] for k in runs})
    out = ["# Benchmark: our Tango server vs cppTango TangoTest and PyTango", "",
           "Same PyTango 10.3.1 client (`bench/bench_client.py`), same machine, same run. "
           "`same` = server and client pinned to CPU 0; `split` = server CPU 0, client CPU 1. "
           "CPU µs/op is the server's own CPU time per operation (from /proc), the measure that "
           "does not depend on how fast the Python client is. Ratios are ours / theirs "
           "(CPU: lower is better; throughput: higher is better).", ""]
    nreps = max((len(r["reps"]) for r in runs.values()), default=1)
    if nreps > 1:
        out += [f"Every figure is the median of {nreps} repetitions (`REPEAT={nreps}`; the servers take turns "
                "within each repetition); throughput ratios also give the range of the per-repetition ratios.", ""]
    out += ["## Start-up and memory", "", "| placement | server | start to first call (s) | idle RSS (MB) |", "|---|---|---|---|"]
    for p in placements:
        for s in SERVERS:
            r = startup.get((s, p))
            if r:
                rss = r.get("server_rss_kb_idle")
                out.append(f"| {p} | {NAMES[s]} | {fmt(r.get('start_to_first_call_s'), 3)} | {fmt(rss / 1024 if rss else None, 1)} |")
    out.append("")
    for p in placements:
        out += [f"## Requests ({p})", "",
                "| scenario | clients | ours ops/s | TangoTest ops/s | PyTango ops/s | ours p50/p99 µs | ours CPU µs/op | TangoTest CPU µs/op | PyTango CPU µs/op | CPU ours/TangoTest | CPU ours/PyTango | ops ours/TangoTest |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for sc in SCEN:
            for n in procs:
                rr = [runs.get((s, p, sc, n)) for s in SERVERS]
                if not any(rr):
                    continue
                ops = [(r.get("ops_per_s") or r.get("events_per_s")) if r else None for r in rr]
                cpu = [r.get("server_cpu_us_per_op") if r else None for r in rr]
                us = rr[0]
                lat = f"{fmt(us.get('p50_us'))}/{fmt(us.get('p99_us'))}" if us else "–"
                if sc == "events":
                    lost = "/".join("–" if r is None else str(r.get("lost_events")) for r in rr)
                    lat += f" (lost ours/TT/Py: {lost})"
                out.append(f"| {sc} | {n} | {fmt(ops[0])} | {fmt(ops[1])} | {fmt(ops[2])} | {lat} | {fmt(cpu[0], 1)} | {fmt(cpu[1], 1)} | {fmt(cpu[2], 1)} | "
                           f"{ratio(cpu[0], cpu[1])} | {ratio(cpu[0], cpu[2])} | "
                           f"{ratio_spread(rr[0], rr[1], 'events_per_s' if sc == 'events' else 'ops_per_s')} |")
        out.append("")
        out += [f"### Where the server's CPU goes ({p}): user space (our code) and kernel (sockets, wake-ups)", "",
                "| scenario | clients | ours user µs/op | TangoTest user µs/op | user ours/TangoTest | ours kernel µs/op | TangoTest kernel µs/op | kernel ours/TangoTest |",
                "|---|---|---|---|---|---|---|---|"]
        for sc in SCEN:
            for n in procs:
                us, tt = runs.get(("rust", p, sc, n)), runs.get(("cpptango-tangotest", p, sc, n))
                if not (us and tt and us.get("server_user_us_per_op") is not None):
                    continue
                u = [us.get("server_user_us_per_op"), tt.get("server_user_us_per_op")]
                k = [us.get("server_kernel_us_per_op"), tt.get("server_kernel_us_per_op")]
                out.append(f"| {sc} | {n} | {fmt(u[0], 1)} | {fmt(u[1], 1)} | {ratio(u[0], u[1])} | {fmt(k[0], 1)} | {fmt(k[1], 1)} | {ratio(k[0], k[1])} |")
        out.append("")
    if loadgen:
        out += ["## Our server's own ceiling (`tango-loadgen`, pipelined GIOP reads)", "",
                "| placement | connections | pipeline | reads/s | errors |", "|---|---|---|---|---|"]
        for r in loadgen:
            out.append(f"| {r['placement']} | {r['connections']} | {r['pipeline']} | {r['reads_per_s']} | {r['errors']} |")
        out.append("")
    out += ["Events: each subscriber process pushes `PushCounter(100)` in a loop and counts what its callback "
            "receives; 'lost' is what was pushed but not received in the window — with a producer faster than a "
            "Python consumer, the bounded queues drop (by design: a slow subscriber must not grow the server). "
            "The no-loss check is the interop test `test_burst_to_eight_subscriber_processes` (8 × 10 000, 0 lost).", ""]
    if config_path:
        out += ["## Config path (`sdp up` from target/release, `bench/config_path.py`; etcd_* rows: etcd alone, same client)", "",
                "| measurement | n | p50 ms | p90 ms | max ms | target p50 ms |", "|---|---|---|---|---|---|"]
        for r in config_path:
            out.append(f"| {r['scenario']} | {r['n']} | {r['p50']} | {r['p90']} | {r['max']} | {r.get('target_p50') or '–'} |")
        out.append("")
    if controller:
        out += ["## Processing controller as the database grows (`bench/controller_scale.py`)", "",
                "| PBs in the database | PBs measured | controller CPU per PB | PB → deployment p50 | p99 |", "|---|---|---|---|---|"]
        for r in controller:
            out.append(f"| {r['pbs']} | {r['measured']} | {r['cpu_ms_per_pb']} ms | {r['latency_p50_ms']} ms | {r['latency_p99_ms']} ms |")
        out.append("")
        for r in cascade:
            out += [f"Cascade: {r['pbs']} PBs deleted by one `sdpcfg delete -R /pb` in {r['sdpcfg_delete_s']} s; the controller "
                    f"had deleted every deployment and ownership record they owned {r['cascade_s']} s after the delete started.", ""]
    if cluster:
        out += ["## Config path on one etcd and on a three-member cluster (`bench/cluster_path.py`)", "",
                "configure_16_ms: all 16 subarrays' Configure at once (a barrier per round); configure_1_ms: one alone; "
                "etcd_* (etcd-baseline, given every member): a read, a create-if-absent, a put until the client's own watch delivers it.", "",
                "| measurement | members | n | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
        for r in sorted(cluster, key=lambda r: (r["scenario"], r["members"])):
            out.append(f"| {r['scenario']} | {r['members']} | {r['n']} | {r['p50']} | {fmt(r.get('p99'), 2)} | {r['max']} |")
        out.append("")
    if controller or cluster:
        out += [f"![controller scale and cluster latencies]({scale_png.split('/')[-1]})", ""]
    if tmc:
        out += ["## TMC's command sequence on the ADR-8 profile (`bench/tmc_sequence.py`)", "",
                "From sending each command to the obsState change event of its final state, as TMC's SDP subarray "
                "leaf node waits for it; 16 = all subarrays commanded at once.", "",
                "| subarrays | command | n | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
        for r in tmc:
            out.append(f"| {r['subarrays']} | {r['command']} | {r['n']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} |")
        out.append("")
    if database:
        out += database_table(database)
    out.append(f"![server CPU per operation]({png_path.split('/')[-1]})")
    open(md_path, "w").write("\n".join(out) + "\n")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, len(placements), figsize=(6 * len(placements), 4), squeeze=False)
    for ax, p in zip(axes[0], placements):
        data = defaultdict(list)
        labels = [sc for sc in SCEN[:5] if any(runs.get((s, p, sc, 1)) for s in SERVERS)]
        width = 0.27
        for i, s in enumerate(SERVERS):
            vals = [(runs.get((s, p, sc, 1)) or {}).get("server_cpu_us_per_op") or 0 for sc in labels]
            ax.bar([x + (i - 1) * width for x in range(len(labels))], vals, width, label=NAMES[s])
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=20)
        ax.set_ylabel("server CPU µs per operation (1 client)")
        ax.set_title(f"placement: {p}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    if controller or cluster:
        plot_scale(plt, controller, cluster, scale_png)


def plot_scale(plt, controller, cluster, path):
    """Left: controller CPU per PB and PB -> deployment latency against the PBs in the database.
    Right: p50/p99 of each cluster-path measurement, one member against three."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    if controller:
        pbs = [r["pbs"] for r in controller]
        left.plot(pbs, [r["cpu_ms_per_pb"] for r in controller], "o-", label="controller CPU per PB")
        left.plot(pbs, [r["latency_p50_ms"] for r in controller], "s-", label="PB → deployment p50")
        left.plot(pbs, [r["latency_p99_ms"] for r in controller], "^-", label="PB → deployment p99")
        left.set_xscale("log")
        left.set_xlabel("PBs in the database")
        left.set_ylabel("ms")
        left.set_title("processing controller")
        left.legend()
    if cluster:
        scen = sorted({r["scenario"] for r in cluster})
        members = sorted({r["members"] for r in cluster})
        width = 0.8 / (2 * len(members))
        i = 0
        for m in members:
            for q in ("p50", "p99"):
                vals = [next((r.get(q) or 0 for r in cluster if r["scenario"] == sc and r["members"] == m), 0) for sc in scen]
                right.bar([x - 0.4 + (i + 0.5) * width for x in range(len(scen))], vals, width, label=f"{m} member(s) {q}")
                i += 1
        right.set_xticks(range(len(scen)))
        right.set_xticklabels(scen, rotation=20)
        right.set_ylabel("ms")
        right.set_title("config path: one etcd vs three members")
        right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main(*sys.argv[1:4])

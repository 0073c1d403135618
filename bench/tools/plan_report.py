#!/usr/bin/python3
"""Writes the capacity-planning report of `bench/run plan` from what it measured in OUT
(ladder.csv, memory.csv, max.csv, scenarios.csv): OUT/report.md and, with gnuplot, PNG plots
(latency percentiles, achieved rate and CPU per request against the offered rate; RSS against
idle connections), ringgate and NGINX on the same axes.

The knee of a ladder is its first step where the server no longer keeps up: the achieved rate
falls below 99% of the offered rate, requests were left unsent, or p99 exceeds twice its value at
the lowest load. The step before it is the highest sustainable one."""

import argparse
import csv
import math
import os
import platform
import shutil
import subprocess
import sys

KEEP_UP = 0.99  # achieved / offered at or above this: the server keeps up
P99_GROWTH = 2.0  # p99 over this many times the low-load p99: past the knee


def find_knee(steps):
    """Index of the first step past the knee in `steps` (dicts with offered_rps, achieved_rps,
    p99_us and optionally unsent and errors, sorted by offered rate), or None when every step
    kept up. The low-load p99 is the first step's."""
    if not steps:
        return None
    base = steps[0]["p99_us"]
    for i, s in enumerate(steps):
        if s["achieved_rps"] < KEEP_UP * s["offered_rps"]:
            return i
        if s.get("unsent", 0) > 0 or s.get("errors", 0) > 0:
            return i
        if base > 0 and s["p99_us"] > P99_GROWTH * base:
            return i
    return None


def sustainable(steps, p99_goal_us=None):
    """The highest step that keeps up (before the knee) and, with a goal, whose p99 is within
    it; None when there is none."""
    knee = find_knee(steps)
    good = steps if knee is None else steps[:knee]
    if p99_goal_us is not None:
        good = [s for s in good if s["p99_us"] <= p99_goal_us]
    return max(good, key=lambda s: s["achieved_rps"]) if good else None


def cores_needed(target_rps, per_core_rps):
    """Shards (cores) for `target_rps` when one sustains `per_core_rps`, assuming linear
    scaling across shards (each has its own listener, loop and pools)."""
    if per_core_rps <= 0:
        return None
    return max(1, math.ceil(target_rps / per_core_rps))


def memory_slope(points):
    """Least-squares bytes per connection over (connections, rss_kib) points; None with fewer
    than two."""
    pts = [(float(n), float(r) * 1024) for n, r in points]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    if den == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def ladder_steps(rows, scenario, server):
    steps = []
    for r in rows:
        if r["scenario"] != scenario or r["server"] != server:
            continue
        errors = sum(int(r[k]) for k in ("connect_errors", "read_errors", "write_errors",
                                         "status_errors", "timeouts"))
        steps.append({
            "step": int(r["step"]),
            "offered_rps": float(r["offered_rps"]),
            "achieved_rps": float(r["achieved_rps"]),
            "p50_us": int(r["p50_us"]),
            "p90_us": int(r["p90_us"]),
            "p99_us": int(r["p99_us"]),
            "p999_us": int(r["p999_us"]),
            "max_us": int(r["max_us"]),
            "errors": errors,
            "unsent": int(r["unsent"]),
            "cpu_us": float(r["cpu_us_per_request"]) if r["cpu_us_per_request"] != "nan" else 0.0,
            "rss_kib": int(r["rss_kib"]),
        })
    return sorted(steps, key=lambda s: s["offered_rps"])


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, kernel {platform.release()}"


def ms(us):
    return f"{us / 1000:.2f}"


COLORS = {"ringgate": "#1f77b4", "nginx": "#2ca02c"}


def run_gnuplot(out, name, commands):
    """Runs a gnuplot script (after the terminal settings); False when gnuplot is missing or
    fails."""
    if not shutil.which("gnuplot"):
        return False
    script = ["set terminal pngcairo size 900,560 font 'sans,10'" if _has_cairo() else
              "set terminal png size 900,560", "set grid", "set key top left"] + commands
    path = os.path.join(out, f"plot-{name}.gp")
    with open(path, "w") as f:
        f.write("\n".join(script) + "\n")
    r = subprocess.run(["gnuplot", path], capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(f"plan_report: gnuplot failed on {path}: {r.stderr}\n")
        return False
    return True


def plot_ladder(out, scenario, servers):
    """latency, throughput and CPU plots of one scenario, every server on the same axes."""
    data = {s: os.path.join(out, f"plot-{scenario}-{s}.dat") for s in servers}

    def lines(column, dash=1, suffix=""):
        return [f"'{path}' using 1:{column} with linespoints lc rgb '{COLORS.get(s, '#d62728')}' "
                f"dt {dash} title '{s}{suffix}'" for s, path in data.items()]

    cmds = ["set xlabel 'offered requests/s'",
            f"set output '{os.path.join(out, scenario + '-latency.png')}'",
            "set ylabel 'latency, ms (from the intended send time)'", "set logscale y",
            f"set title '{scenario}: latency against offered load'",
            "plot " + ", ".join(lines(3, 3, " p50") + lines(4, 1, " p99") + lines(5, 2, " p99.9")),
            "unset logscale y",
            f"set output '{os.path.join(out, scenario + '-throughput.png')}'",
            "set ylabel 'achieved requests/s'",
            f"set title '{scenario}: achieved against offered'",
            "plot " + ", ".join(["x with lines lc rgb '#999999' dt 2 title 'offered'"] + lines(2)),
            f"set output '{os.path.join(out, scenario + '-cpu.png')}'",
            "set ylabel 'server CPU µs per request'", "set yrange [0:*]",
            f"set title '{scenario}: CPU per request against offered load'",
            "plot " + ", ".join(lines(6))]
    return run_gnuplot(out, scenario, cmds)


def plot_memory(out, servers):
    plots = [f"'{os.path.join(out, f'memory-{s}.dat')}' using 1:($2/1024) with linespoints "
             f"lc rgb '{COLORS.get(s, '#d62728')}' title '{s}'" for s in servers]
    return run_gnuplot(out, "memory", [
        f"set output '{os.path.join(out, 'memory.png')}'",
        "set xlabel 'idle keep-alive connections'", "set ylabel 'RSS, MiB'",
        "set title 'memory against idle connections (direct route)'",
        "plot " + ", ".join(plots)])


_CAIRO = None


def _has_cairo():
    global _CAIRO
    if _CAIRO is None:
        r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
        _CAIRO = "pngcairo" in (r.stdout + r.stderr)
    return _CAIRO


def write_dat(path, steps):
    with open(path, "w") as f:
        for s in steps:
            f.write(f"{s['offered_rps']:.0f} {s['achieved_rps']:.0f} {s['p50_us'] / 1000:.3f} "
                    f"{s['p99_us'] / 1000:.3f} {s['p999_us'] / 1000:.3f} {s['cpu_us']:.2f}\n")


def report(args):
    out = args.out
    rows = read_csv(os.path.join(out, "ladder.csv"))
    scenarios = read_csv(os.path.join(out, "scenarios.csv"))
    maxes = {(r["scenario"], r["server"]): float(r["max_rps"])
             for r in read_csv(os.path.join(out, "max.csv"))}
    memory = read_csv(os.path.join(out, "memory.csv"))
    p99_goal_us = args.p99 * 1000 if args.p99 else None
    lines = [f"# ringgate capacity plan", "",
             f"Machine: {machine()}.  ",
             f"Method: `bench/run plan` — open-loop load from `build/bench/load` (constant arrival "
             f"rate, latency measured from each request's intended send time, so a stall shows in "
             f"every request that waited for it), {args.connections} keep-alive connections, "
             f"{args.step_seconds} s per step after a warm-up; the ladder's 100% is ringgate's "
             f"closed-loop maximum with those connections, and NGINX is offered the same rates. "
             f"Servers pinned to CPU {args.server_cpu} (one ringgate shard, one NGINX worker), "
             f"the load generator (and origins) to CPU {args.client_cpu}.", "",
             "The **knee** is the first step where the achieved rate falls below "
             f"{KEEP_UP:.0%} of the offered rate, requests go unsent or fail, or p99 exceeds "
             f"{P99_GROWTH:g}× its value at the lowest step; the step before it is the highest "
             "sustainable rate.", "",
             "Scaling: every figure here is one shard on one core. Shards share no lock and "
             "each has its own listener, loop and pools, so several cores are projected as "
             "that many times one; a run at 1, 2, 4 and 8 shards needs a machine with the "
             "cores to spare for the load generator, and was not made here.", ""]
    for sc in scenarios:
        name = sc["scenario"]
        servers = [s for s in ("ringgate", "nginx") if ladder_steps(rows, name, s)]
        lines += [f"## {name}: {sc['title']}", ""]
        if "nginx" not in servers:
            lines += ["No NGINX row: " + (sc["nginx"] or "NGINX has no equivalent of this work.")
                      + ("" if sc["nginx"] else ""), ""]
        elif sc["nginx"]:
            lines += [f"NGINX row: {sc['nginx']}.", ""]
        for server in servers:
            steps = ladder_steps(rows, name, server)
            write_dat(os.path.join(out, f"plot-{name}-{server}.dat"), steps)
            mx = maxes.get((name, server))
            lines += [f"### {server}" + (f" (closed-loop maximum {mx:,.0f} req/s)" if mx else ""),
                      "",
                      "| offered/s | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | "
                      "errors | unsent | CPU µs/req | server CPU | RSS MiB |",
                      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for s in steps:
                busy = s["cpu_us"] * s["achieved_rps"] / 1e6
                lines.append(
                    f"| {s['offered_rps']:,.0f} | {s['achieved_rps']:,.0f} | {ms(s['p50_us'])} | "
                    f"{ms(s['p90_us'])} | {ms(s['p99_us'])} | {ms(s['p999_us'])} | "
                    f"{ms(s['max_us'])} | {s['errors']} | {s['unsent']} | {s['cpu_us']:.2f} | "
                    f"{busy:.0%} | {s['rss_kib'] / 1024:.1f} |")
            lines.append("")
            knee = find_knee(steps)
            if knee is None:
                lines.append(f"No knee within the ladder: {server} kept up at every step, up to "
                             f"{steps[-1]['offered_rps']:,.0f} req/s.")
            else:
                k = steps[knee]
                why = ("achieved fell below offered" if k["achieved_rps"] < KEEP_UP *
                       k["offered_rps"] else "requests went unsent or failed"
                       if k["unsent"] or k["errors"] else "p99 more than doubled")
                best = steps[knee - 1] if knee > 0 else None
                lines.append(f"Knee at {k['offered_rps']:,.0f} req/s offered ({why}); "
                             + (f"highest sustainable step {best['offered_rps']:,.0f} req/s "
                                f"(p99 {ms(best['p99_us'])} ms)." if best else
                                "not even the lowest step kept up."))
                busy = k["cpu_us"] * k["achieved_rps"] / 1e6
                if busy < 0.85:
                    lines.append(f" At the knee the server used {busy:.0%} of its core: the load "
                                 "generator's core (shared with the origins) may be what "
                                 "saturated first, so this knee is a lower bound for the "
                                 "server.")
            lines.append("")
        if args.target_rps:
            lines += [f"### Cores for {args.target_rps:,.0f} req/s"
                      + (f" at p99 ≤ {args.p99:g} ms" if args.p99 else ""), ""]
            for server in servers:
                steps = ladder_steps(rows, name, server)
                best = sustainable(steps, p99_goal_us)
                if not best:
                    lines.append(f"- {server}: no step met the goal on one core.")
                    continue
                n = cores_needed(args.target_rps, best["achieved_rps"])
                lines.append(f"- {server}: one core sustains {best['achieved_rps']:,.0f} req/s "
                             f"within it (p99 {ms(best['p99_us'])} ms): **{n} cores**.")
            lines += ["", "Assumption: shards scale linearly with cores (each has its own "
                      "listener, loop, buffers and pools and they share no lock); this is a "
                      "single-core projection, measured on one core, not a measurement at that "
                      "scale. Leave headroom for bursts and for the kernel's share of the "
                      "network work.", ""]
        if servers and plot_ladder(out, name, servers):
            lines += [f"![latency]({name}-latency.png)", "",
                          f"![throughput]({name}-throughput.png)", "",
                          f"![cpu]({name}-cpu.png)", ""]
    # Memory.
    lines += ["## Memory per idle keep-alive connection", "",
              "The direct route (bench/scenarios/memory.yaml: limits.connections raised to 60000), "
              "one shard; connections from bench/tools/idle_client.py, each after one request; "
              "RSS 1 s after they are all open.", "",
              "| server | connections | RSS MiB |", "|---|---:|---:|"]
    per_server = {}
    for r in memory:
        if r["rss_kib"] == "skipped":
            lines.append(f"| {r['server']} | {r['connections']} | skipped (over the open-file "
                         "or connection limit) |")
            continue
        per_server.setdefault(r["server"], []).append((int(r["connections"]), int(r["rss_kib"])))
        lines.append(f"| {r['server']} | {r['connections']} | {int(r['rss_kib']) / 1024:.1f} |")
    lines.append("")
    for server, pts in per_server.items():
        with open(os.path.join(out, f"memory-{server}.dat"), "w") as f:
            for n, rss in pts:
                f.write(f"{n} {rss}\n")
        open_steps = [p for p in pts if p[0] > 0]
        # Over the steps with connections open (the first one carries one-time costs such as
        # receive buffers touched for the first time); from the empty server with one step only.
        slope = memory_slope(open_steps if len(open_steps) >= 2 else pts)
        if slope is not None:
            lines.append(f"- {server}: {slope:,.0f} bytes per connection (least squares over "
                         + ("the steps with connections open)." if len(open_steps) >= 2 else
                            "the server before and after its one step: an upper bound)."))
    lines.append("")
    if per_server and plot_memory(out, list(per_server)):
        lines += ["![memory](memory.png)", ""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines))
    print(os.path.join(out, "report.md"))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--target-rps", type=float)
    ap.add_argument("--p99", type=float, help="milliseconds")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--step-seconds", type=float, default=10)
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    report(ap.parse_args())


if __name__ == "__main__":
    main()

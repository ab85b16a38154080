#!/usr/bin/env python3
"""bench/run.sh's report: reads the stages' outputs in a run directory,
writes the generated section of RESULTS.md (between its markers, so the
hand-written history stays) and the PNG plots.

  report.py RUN_DIR RESULTS_MD PLOTS_DIR

RUN_DIR holds machine.json, stages.json (each stage's command, seconds,
exit code) and what the stages wrote: datapath.jsonl, tcp.jsonl,
veth.jsonl, untracked.md, apply.md, events.md. Exits non-zero when a
stage's output is missing or does not parse.
"""
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BEGIN = "<!-- bench/run.sh: generated section, begin (do not edit by hand) -->"
END = "<!-- bench/run.sh: generated section, end -->"
FLAT_TARGET = 1.3


def read_jsonl(path):
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        raise ValueError(f"{path}: no records")
    return rows


def med(v):
    return statistics.median(v)


def spread(v, fmt="{:.0f}"):
    """'median (min-max, n runs)'"""
    if len(v) == 1:
        return fmt.format(v[0]) + " (1 run)"
    return f"{fmt.format(med(v))} ({fmt.format(min(v))}-{fmt.format(max(v))}, {len(v)} runs)"


def over_floor(row):
    return [x - f for x, f in zip(row["ns"], row["floor_ns"])]


# ---- datapath ----
def datapath_section(rows, cmd, plots):
    out = ["### Datapath: ns/packet over the floor, by rules (BPF_PROG_TEST_RUN)", "", f"`{cmd}`", ""]
    out += [
        "Each round draws the peer address and port at random from what is installed; "
        "per round: a mean of repeated runs of one packet (established, new denied) or the median "
        "of single runs, each packet from a peer drawn at random (new allowed, new denied random), "
        "minus the floor (a trivial program, same packets, same round). "
        "Median over the rounds (min-max). Ratio: the largest size's cost over the smallest's "
        f"(target <= {FLAT_TARGET}x).",
        "",
    ]
    sizes = sorted({r["rules"] for r in rows})
    keys = sorted({(r["family"], r["hook"], r["scenario"]) for r in rows})
    by = {(r["family"], r["hook"], r["scenario"], r["rules"]): r for r in rows}
    head = "| family | hook | scenario | " + " | ".join(
        f"{n} rules / {by[(keys[0][0], keys[0][1], keys[0][2], n)]['prefixes']} pfx" for n in sizes
    )
    out += [head + " | largest / smallest |", "|---|---|---|" + "---:|" * (len(sizes) + 1)]
    ratios = {}
    for fam, hook, sc in keys:
        cells = []
        for n in sizes:
            d = over_floor(by[(fam, hook, sc, n)])
            cells.append(f"{med(d):.0f} ({min(d):.0f}-{max(d):.0f})")
        small = max(1.0, med(over_floor(by[(fam, hook, sc, sizes[0])])))
        big = med(over_floor(by[(fam, hook, sc, sizes[-1])]))
        ratios[(fam, hook, sc)] = big / small
        out.append(f"| {fam} | {hook} | {sc} | " + " | ".join(cells) + f" | {big / small:.2f}x |")
    floors = [med(r["floor_ns"]) for r in rows if r["scenario"] in ("established", "new_denied")]
    out += ["", f"Floor (mean of repeated runs): {min(floors):.0f}-{max(floors):.0f} ns.", ""]

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    for ax, hook in zip(axes, sorted({k[1] for k in keys})):
        for fam, h, sc in keys:
            if h != hook:
                continue
            ys = [max(1.0, med(over_floor(by[(fam, h, sc, n)]))) for n in sizes]
            color = {"established": "tab:blue", "new_allowed": "tab:green", "new_denied": "tab:red",
                     "new_denied_random": "tab:purple"}.get(sc)
            ax.plot(sizes, ys, marker="o", ms=3, label=f"{sc} {fam}", color=color,
                    linestyle="-" if fam == "ipv4" else "--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rules (prefixes up to 100k per family)")
        ax.set_title(f"{hook} program", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ns/packet over the floor")
    axes[1].legend(fontsize=6)
    save(fig, plots, "datapath_ns_vs_rules.png")
    return out, ratios


# ---- tcp ----
def tcp_section(rows, cmd, plots):
    t = {(r["test"], r["system"]): r["runs"] for r in rows}
    systems = [s for s in ("none", "zeroseg", "nftables") if ("rr", s) in t]
    out = ["### TCP through a forwarding node (real packets, veth, namespaces)", "", f"`{cmd}`", ""]
    out += [
        "Systems in interleaved rounds on the same path: no filter; zeroseg enforcing (tc on the "
        "web workload's veth, rules for the client); nftables with conntrack (forward chain, "
        "policy drop, established and new-from-client accepted). Median (min-max). The last two "
        "columns: zeroseg's figure over the other system's of the same round (for the round trip, "
        "a ratio of times: above 1 is slower). zeroseg's event ring is read as the agent would "
        "(bench/ring_drain).",
        "",
        "| measure | " + " | ".join(systems) + " | zeroseg / none | zeroseg / nftables |",
        "|---|" + "---:|" * (len(systems) + 2),
    ]
    names = {
        "iperf3_p1": ("iperf3, 1 stream, Gbit/s", "{:.2f}"),
        "iperf3_p4": ("iperf3, 4 streams, Gbit/s", "{:.2f}"),
        "rr": ("1-byte request/response round trip (median of the run), us", "{:.1f}"),
        "connect": ("connect + close, connections/s", "{:.0f}"),
    }
    # a's figure against b's per round (the systems of a round ran minutes
    # apart at most): the table's last columns and the targets' figures
    def per_round_values(test, a, b, op=lambda x, y: x / y):
        return [op(x, y) for x, y in zip(t.get((test, a), []), t.get((test, b), [])) if y]

    def per_round(test, a, b):
        r = per_round_values(test, a, b)
        return spread(r, "{:.2f}") if r else "-"
    for test, (label, fmt) in names.items():
        out.append(f"| {label} | " + " | ".join(spread(t[(test, s)], fmt) for s in systems) + " | "
                   + per_round(test, "zeroseg", "none") + " | " + per_round(test, "zeroseg", "nftables") + " |")
    figs = {
        "tput_1": med(per_round_values("iperf3_p1", "zeroseg", "none")),
        "tput_4": med(per_round_values("iperf3_p4", "zeroseg", "none")),
        "rr_added_us": med(per_round_values("rr", "zeroseg", "none", lambda x, y: x - y)),
        "conn_vs_nft": med(per_round_values("connect", "zeroseg", "nftables")),
    }
    out += [
        "",
        f"The median of the rounds: zeroseg / no filter: {figs['tput_1']:.2f}x (1 stream), {figs['tput_4']:.2f}x "
        f"(4 streams), target >= 0.95; round trip added: {figs['rr_added_us']:.1f} us (target <= 2); "
        f"connections/s against nftables: {figs['conn_vs_nft']:.2f}x (target >= 1).",
        "",
    ]
    fig, ax = plt.subplots(figsize=(5, 3))
    w = 0.8 / len(systems)
    for i, s in enumerate(systems):
        ys = [med(t[(k, s)]) for k in ("iperf3_p1", "iperf3_p4")]
        errs = [[y - min(t[(k, s)]) for y, k in zip(ys, ("iperf3_p1", "iperf3_p4"))],
                [max(t[(k, s)]) - y for y, k in zip(ys, ("iperf3_p1", "iperf3_p4"))]]
        ax.bar([x + i * w for x in range(2)], ys, w, yerr=errs, label=s, capsize=2)
    ax.set_xticks([x + w * (len(systems) - 1) / 2 for x in range(2)], ["1 stream", "4 streams"])
    ax.set_ylabel("Gbit/s (iperf3)")
    ax.set_title("TCP throughput through a forwarding node", fontsize=9)
    ax.legend(fontsize=7)
    save(fig, plots, "tcp_throughput.png")

    fig, ax = plt.subplots(figsize=(4, 3))
    ys = [med(t[("connect", s)]) for s in systems]
    errs = [[y - min(t[("connect", s)]) for y, s in zip(ys, systems)],
            [max(t[("connect", s)]) - y for y, s in zip(ys, systems)]]
    ax.bar(systems, ys, yerr=errs, capsize=3, color=["#999999", "#1f77b4", "#ff7f0e"][: len(systems)])
    ax.set_ylabel("new TCP connections/s")
    ax.set_title("connect + close through a forwarding node", fontsize=9)
    save(fig, plots, "connections.png")
    return out, figs


# ---- veth deny ----
def veth_section(rows, cmd, plots):
    out = ["### Denied traffic on a veth: pps per system", "", f"`{cmd}`", ""]
    out += ["Packets per second received and dropped by each system's filter (bench/veth_deny.sh), "
            "from a sender that sends as fast as it can (the issue's figure): median (min-max) over the runs; "
            "share of the XDP_DROP floor of the same scenario. That figure carries the harness's own cost "
            "(the sender frees what the ring cannot hold into the pool the receiver returns frames to, under "
            "one lock), so beside it: the highest rate each took without loss from a paced sender "
            "(RFC 2544 search, `flood send --rate`; * the sender's own limit), its share of the floor's, and "
            "the receiver's NAPI thread CPU ns per packet (unpaced, and at the no-loss rate).", ""]
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    floors, nl_floors, readers = {}, {}, {}
    for r in rows:
        if "floor" in r["system"].lower() or r["system"].lower() in ("xdp_drop", "xdp-drop"):
            floors[r["scenario"]] = med(r["runs_pps"])
            nl_floors[r["scenario"]] = r.get("noloss_pps")
        if r["system"] == "xdp-touch-packet":
            readers[r["scenario"]] = med(r["runs_pps"])
    out += ["xdp-touch-packet is a calibration row: XDP_DROP after reading the frame's headers, which the "
            "sender's core wrote, so the least any filter reads; \"of xdp-touch-packet\" is each row's share "
            "of its rate.", ""]
    out += ["| scenario | system | Mpps | of the floor | of xdp-touch-packet | ns/packet | no-loss Mpps | of the floor's "
            "| ns/packet there |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        m = med(r["runs_pps"])
        share = f"{m / floors[r['scenario']]:.0%}" if r["scenario"] in floors else "-"
        of_reader = f"{m / readers[r['scenario']]:.0%}" if r["scenario"] in readers else "-"
        busy = f"{med(r['runs_busy_ns']):.0f}" if r.get("runs_busy_ns") else "-"
        nl, nlf = r.get("noloss_pps"), nl_floors.get(r["scenario"])
        nl_s = "-" if not nl else f"{nl / 1e6:.2f}" + ("*" if r.get("noloss_sender_bound") else "")
        nl_share = f"{nl / nlf:.0%}" if nl and nlf else "-"
        nl_busy = "-" if r.get("noloss_busy_ns") is None else f"{r['noloss_busy_ns']:.0f}"
        out.append(f"| {r['scenario']} | {r['system']} | "
                   f"{spread([x / 1e6 for x in r['runs_pps']], '{:.2f}')} | {share} | {of_reader} | {busy} | "
                   f"{nl_s} | {nl_share} | {nl_busy} |")
    out.append("")
    fig, ax = plt.subplots(figsize=(8, 3.8))
    labels, ys, lo, hi, colors, nls = [], [], [], [], [], []
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for si, sc in enumerate(scenarios):
        for r in rows:
            if r["scenario"] != sc:
                continue
            m = med(r["runs_pps"]) / 1e6
            labels.append(f"{r['system']}\n{sc}" if len(scenarios) > 1 else r["system"])
            ys.append(m)
            lo.append(m - min(r["runs_pps"]) / 1e6)
            hi.append(max(r["runs_pps"]) / 1e6 - m)
            colors.append(palette[si % len(palette)])
            nls.append((r.get("noloss_pps") or 0) / 1e6)
    at = list(range(len(ys)))
    ax.barh([y - 0.2 for y in at], ys, height=0.4, xerr=[lo, hi], color=colors, capsize=2,
            label="unpaced: taken from a sender as fast as it can")
    ax.barh([y + 0.2 for y in at], nls, height=0.4, color=colors, alpha=0.45, hatch="//",
            label="paced: the highest rate taken without loss")
    ax.set_yticks(at, labels, fontsize=6)
    ax.invert_yaxis()
    ax.legend(fontsize=6, loc="lower right")
    ax.set_xlabel("Mpps received and dropped (one core)")
    ax.set_title("denied 64-byte UDP on a veth", fontsize=9)
    save(fig, plots, "veth_pps.png")
    return out


def save(fig, plots, name):
    fig.tight_layout()
    fig.savefig(os.path.join(plots, name), dpi=80)
    plt.close(fig)


def table_section(run_dir, name, title, command):
    """A stage's own markdown table (NAME.md), under its title and command."""
    text = open(os.path.join(run_dir, f"{name}.md")).read().strip()
    if "|---" not in text:
        raise ValueError(f"{name}.md: no table")
    return [f"### {title}", "", f"`{command}`", "", text, ""]


def main():
    run_dir, results_md, plots = sys.argv[1:4]
    os.makedirs(plots, exist_ok=True)
    machine = json.load(open(os.path.join(run_dir, "machine.json")))
    stages = json.load(open(os.path.join(run_dir, "stages.json")))
    cmd = {s["name"]: s["command"] for s in stages}
    sec = [BEGIN, "", f"## Generated by `{machine['command']}` ({machine['date']})", ""]
    sec += [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, kernel {machine['kernel']}; "
        f"commit {machine['commit']}. Load average {machine['load_before']} before, "
        f"{machine['load_after']} after: the machine is shared, read ratios measured in the same run.",
        "",
        "| stage | seconds | exit |",
        "|---|---:|---:|",
    ]
    sec += [f"| {s['name']} | {s['seconds']:.0f} | {s['rc']} |" for s in stages]
    sec.append("")
    summary = []
    if "veth" in cmd and os.path.exists(os.path.join(run_dir, "veth.jsonl")):
        sec += veth_section(read_jsonl(os.path.join(run_dir, "veth.jsonl")), cmd["veth"], plots)
        sec += ["![pps per system](plots/veth_pps.png)", ""]
    lines, ratios = datapath_section(read_jsonl(os.path.join(run_dir, "datapath.jsonl")), cmd["datapath"], plots)
    sec += lines + ["![ns/packet vs rules](plots/datapath_ns_vs_rules.png)", ""]
    sec += table_section(run_dir, "new_flow_burst", "A new allowed flow in a burst, against the least a new flow costs "
                         "(ns a flow over XDP_PASS / TC_ACT_OK)", cmd["new_flow_burst"])
    sec += table_section(run_dir, "new_flow_memory", "The least a new flow costs, by the memory its table spans "
                         "(ns a flow over XDP_PASS / TC_ACT_OK)", cmd["new_flow_memory"])
    sec += table_section(run_dir, "untracked", "Untracked deny through test_run (bench/untracked_bench)",
                         cmd["untracked"])
    worst = max(ratios.items(), key=lambda kv: kv[1])
    summary.append(f"cost from the fewest rules to the most, worst: {worst[1]:.2f}x "
                   f"({' '.join(worst[0])}; target <= {FLAT_TARGET}x)")
    lines, figs = tcp_section(read_jsonl(os.path.join(run_dir, "tcp.jsonl")), cmd["tcp"], plots)
    sec += lines + ["![TCP throughput](plots/tcp_throughput.png) ![connections/s](plots/connections.png)", ""]
    summary.append(f"TCP through zeroseg: {figs['tput_1']:.2f}x / {figs['tput_4']:.2f}x the throughput of no filter "
                   f"(1 / 4 streams; target >= 0.95), {figs['rr_added_us']:+.1f} us a round trip (target <= 2), "
                   f"{figs['conn_vs_nft']:.2f}x nftables' connections/s (target >= 1)")
    for name, title in (("apply", "Control plane (bench/apply_bench)"), ("events", "Telemetry (bench/events_bench)")):
        sec += table_section(run_dir, name, title, cmd[name])
    sec.append(END)

    old = open(results_md).read() if os.path.exists(results_md) else "# Benchmark results\n"
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + "\n".join(sec) + old[old.index(END) + len(END):]
    else:  # first time: after the title and the paragraph under it
        at = old.find("\n## ")
        at = len(old) if at < 0 else at + 1
        new = old[:at] + "\n".join(sec) + "\n\n" + old[at:]
    open(results_md, "w").write(new)
    print("report:\n" + "".join(f"  {line}\n" for line in summary), end="")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Randomized differential test of NetworkPolicy semantics: random cases
(netpol_gen.py) applied to a running agent in a lab (netpol_differential.sh),
zeroseg's verdicts (`zeroseg policy trace`, and real packets for some seeds)
compared with an independent model of the Kubernetes rules (netpol_model.py).

    netpol_differential.py --zeroseg BIN --socket SOCK --lab LAB
        [--seeds N] [--base-seed S] [--probes M] [--real-every K] [--here DIR]

Each seed i is base+i: a disagreement prints the seed, a minimal case
(labels, named ports, policies, the probe) found by shrinking the random one
while zeroseg and the model still disagree, and how to replay it
(ZEROSEG_NETPOL_SEED=S). Exit 0 when every probe agreed (and some ran)."""
import argparse
import copy
import json
import os
import random
import subprocess
import sys
import tempfile

import netpol_gen as gen
from netpol_model import Cluster, Endpoint

REAL_PORTS = ["tcp/80", "tcp/81", "udp/53", "udp/81"]  # the lab's services (netpol_differential.sh)


class Zeroseg:
    def __init__(self, binary, socket, lab, work):
        self.binary, self.socket, self.lab, self.work = binary, socket, lab, work
        self.applied = None  # the file of the policies now applied
        self.traces = 0

    def cli(self, *args, check=True):
        r = subprocess.run([self.binary, *args, "--socket", self.socket], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"zeroseg {' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
        return r

    def objects(self, namespaces, pods):
        docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": lbl}}
                for n, lbl in namespaces.items()]
        for p in pods:
            docs.append({"apiVersion": "zeroseg.io/v1", "kind": "Workload",
                         "metadata": {"name": p["name"], "namespace": p["namespace"], "labels": p["labels"]},
                         "spec": {"interface": f"{self.lab}-w{p['index']}", "ips": p["ips"], "ports": p["ports"]}})
        return docs

    def write(self, name, docs):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:  # JSON is YAML
            f.write("".join("---\n" + json.dumps(d) + "\n" for d in docs))
        return path

    def apply(self, namespaces, pods, policies):
        """Replaces the applied policies and labels; False when zeroseg refuses them."""
        if self.applied:
            self.cli("delete", "-f", self.applied)
            self.applied = None
        self.cli("apply", "-f", self.write("objects.yaml", self.objects(namespaces, pods)))
        path = self.write("policies.yaml", policies)
        r = self.cli("apply", "-f", path, check=False)
        if r.returncode != 0:
            return r.stderr.strip() or r.stdout.strip()
        self.applied = os.path.join(self.work, "applied.yaml")
        os.replace(path, self.applied)
        return None

    def trace(self, src, dst, proto, port):
        """(allowed, explanation)"""
        self.traces += 1
        spec = f"{port}/{proto.lower()}"
        r = self.cli("policy", "trace", "--from", end_name(src), "--to", end_name(dst), "--port", spec, "-o", "json")
        out = json.loads(r.stdout)
        steps = "; ".join(f"{s['direction']} at {s['at']}: {s['verdict']} ({s['explanation']})" for s in out["steps"])
        return out["verdict"] == "allowed", steps


def end_name(e):
    return f"{e['namespace']}/{e['name']}" if isinstance(e, dict) else e


def endpoint(e, family, pods):
    """the model's end: a pod of PODS (by name) with its address of FAMILY, or an address"""
    if isinstance(e, dict):
        pod = next(p for p in pods if end_name(p) == end_name(e))
        return Endpoint(next(a for a in pod["ips"] if (":" in a) == (family == 6)), pod)
    return Endpoint(e)


def trace_family(src, dst):
    """the family `policy trace` uses: IPv4 when both ends have it"""
    for e in (src, dst):
        if isinstance(e, str) and ":" in e:
            return 6
    return 4


def model_verdict(namespaces, pods, policies, src, dst, proto, port, family=None):
    family = family or trace_family(src, dst)
    return Cluster(namespaces, pods, policies).verdict(endpoint(src, family, pods), endpoint(dst, family, pods),
                                               proto, port)


def disagrees(zs, case, probe):
    """None when zeroseg and the model agree on PROBE; else a description"""
    namespaces, pods, policies = case
    if zs.apply(namespaces, pods, policies):
        return "refused"
    want, why = model_verdict(namespaces, pods, policies, *probe)
    got, steps = zs.trace(*probe)
    if got == want:
        return None
    return f"zeroseg {'allows' if got else 'denies'}, the model {'allows' if want else 'denies'}\n" \
           f"    model:   {'; '.join(why)}\n    zeroseg: {steps}"


# --- shrinking: drop list items and optional keys while the disagreement stays
OPTIONAL_KEYS = {"policyTypes", "ingress", "egress", "from", "to", "ports", "port", "endPort", "protocol",
                 "except", "matchLabels", "matchExpressions", "namespaceSelector", "podSelector"}


def policy_candidates(node, path):
    """paths into a policy whose removal leaves a smaller, still valid policy"""
    if isinstance(node, dict):
        selectors = [k for k in node if k in ("namespaceSelector", "podSelector")]
        for k, v in node.items():
            if path[-1:] == ("matchLabels",):
                ok = True
            elif k in ("namespaceSelector", "podSelector"):
                ok = len(selectors) == 2 and path[-1:] != ("spec",)  # a peer keeps one; spec keeps its own
            elif k == "port":
                ok = "endPort" not in node
            else:
                ok = k in OPTIONAL_KEYS
            if ok:
                yield path + (k,)
            yield from policy_candidates(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if not (path[-1:] == ("values",) and len(node) == 1):
                yield path + (i,)
            yield from policy_candidates(v, path + (i,))


def candidates(case):
    namespaces, pods, policies = case
    for j, pol in enumerate(policies):
        yield (2, j)
        yield from policy_candidates(pol["spec"], (2, j, "spec"))
    for n, lbl in namespaces.items():
        for k in lbl:
            yield (0, n, k)
    for i, p in enumerate(pods):
        for k in p["labels"]:
            yield (1, i, "labels", k)
        for j in range(len(p["ports"])):
            yield (1, i, "ports", j)


def removed(case, path):
    c = copy.deepcopy(case)
    node = c
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]
    return c


def shrink(zs, case, probe, budget=600):
    """the smallest case reached by single removals that still disagrees on
    PROBE (within BUDGET tries: a CI run stays bounded)"""
    case = copy.deepcopy(list(case))
    changed = True
    while changed and budget > 0:
        changed = False
        for path in list(candidates(case)):
            budget -= 1
            if budget < 0:
                break
            smaller = removed(case, path)
            if disagrees(zs, smaller, probe) not in (None, "refused"):
                case, changed = smaller, True
                break
    return case


def show_case(case, probe):
    namespaces, pods, policies = case
    src, dst, proto, port = probe
    lines = ["  namespaces: " + ", ".join(f"{n} {json.dumps(lbl)}" for n, lbl in namespaces.items())]
    for p in pods:
        lines.append(f"  pod {p['namespace']}/{p['name']} {p['ips'][0]} {p['ips'][1]} labels {json.dumps(p['labels'])}"
                     + (f" ports {json.dumps(p['ports'])}" if p["ports"] else ""))
    for pol in policies:
        lines.append("  ---\n  " + json.dumps(pol))
    lines.append(f"  probe: {end_name(src)} -> {end_name(dst)} {port}/{proto}")
    return "\n".join(lines)


# --- real packets: every pod to every pod on the lab's services, IPv4 and IPv6
def real_probes(lab, here, pods, timeout):
    procs = []
    for s in pods:
        targets = [f"{end_name(d)}@{fam}={d['ips'][fam == 6]}" for d in pods if d is not s for fam in (4, 6)]
        netns = f"{lab}-{s['namespace']}-{s['name']}"
        procs.append(subprocess.Popen(["ip", "netns", "exec", netns, "python3", os.path.join(here, "probe_matrix.py"),
                                       end_name(s), str(timeout), *targets, "--", *REAL_PORTS],
                                      stdout=subprocess.PIPE, text=True))
    results = {}
    for p in procs:
        out, _ = p.communicate()
        for line in out.splitlines():
            key, got = line.split()
            src, rest = key.split(">")
            dst, rest = rest.split("@")
            fam, pp = rest.split(":")
            proto, port = pp.split("/")
            results[(src, dst, int(fam), proto.upper(), int(port))] = got == "pass"
    return results


def check_real(zs, lab, here, case, seed):
    """real packets against the model; a disagreement is probed again (slower) before it counts"""
    namespaces, pods, policies = case
    by_name = {end_name(p): p for p in pods}
    bad = []
    got = real_probes(lab, here, pods, 1)
    for attempt in range(2):
        bad = []
        for (src, dst, fam, proto, port), ok in sorted(got.items()):
            want, why = model_verdict(namespaces, pods, policies, by_name[src], by_name[dst], proto, port, fam)
            if ok != want:
                bad.append((src, dst, fam, proto, port, ok, why))
        if not bad or attempt == 1:
            break
        # again, with time: a lost SYN under load is not a verdict
        again = real_probes(lab, here, pods, 3)
        got = {k: again[k] for k in got}
    for src, dst, fam, proto, port, ok, why in bad:
        print(f"FAIL seed {seed}: real packet {src} -> {dst} IPv{fam} {port}/{proto}: "
              f"{'arrived' if ok else 'blocked'}, the model says {'allow' if not ok else 'deny'} ({'; '.join(why)})")
    return len(got), len(bad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zeroseg", required=True)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--lab", required=True)
    ap.add_argument("--here", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--seeds", type=int, default=int(os.environ.get("ZEROSEG_NETPOL_SEEDS", "20")))
    ap.add_argument("--base-seed", type=int, default=None)
    ap.add_argument("--probes", type=int, default=int(os.environ.get("ZEROSEG_NETPOL_PROBES", "60")))
    ap.add_argument("--real-every", type=int, default=int(os.environ.get("ZEROSEG_NETPOL_REAL_EVERY", "5")))
    ap.add_argument("--max-failures", type=int, default=3, help="stop after this many disagreeing seeds")
    a = ap.parse_args()

    if "ZEROSEG_NETPOL_SEED" in os.environ:  # replay one seed
        seeds = [int(os.environ["ZEROSEG_NETPOL_SEED"])]
    else:
        base = a.base_seed if a.base_seed is not None else random.SystemRandom().randrange(1, 10**9)
        seeds = [base + i for i in range(a.seeds)]
    print(f"seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}), {a.probes} traced probes each, "
          f"real packets every {a.real_every} seeds (replay one: ZEROSEG_NETPOL_SEED=S)")

    work = tempfile.mkdtemp(prefix="zs-netpol-")
    zs = Zeroseg(a.zeroseg, a.socket, a.lab, work)
    compared = failed_seeds = real_n = real_bad = refused = 0
    try:
        for n, seed in enumerate(seeds):
            rng = random.Random(seed)
            case = gen.case(seed, rng)
            probes = [gen.probe(rng, case[1]) for _ in range(a.probes)]
            why = zs.apply(*case)
            if why:
                # the generator makes only valid objects: a refusal is a disagreement too
                print(f"FAIL seed {seed}: zeroseg refused a valid case: {why}\n{show_case(case, probes[0])}")
                failed_seeds += 1
                refused += 1
                continue
            first = None
            for probe in probes:
                want, _ = model_verdict(*case, *probe)
                got, _ = zs.trace(*probe)
                compared += 1
                if got != want and first is None:
                    first = probe
            if first is not None:
                failed_seeds += 1
                small = shrink(zs, case, first)
                print(f"FAIL seed {seed} (replay: ZEROSEG_NETPOL_SEED={seed}): {disagrees(zs, small, first)}\n"
                      f"  minimal case:\n{show_case(small, first)}")
            elif a.real_every and n % a.real_every == 0:
                zs.apply(*case)
                k, b = check_real(zs, a.lab, a.here, case, seed)
                real_n, real_bad = real_n + k, real_bad + b
                failed_seeds += b > 0
            if failed_seeds >= a.max_failures:
                print(f"stopping after {failed_seeds} failing seeds")
                break
    finally:
        if zs.applied:
            zs.cli("delete", "-f", zs.applied, check=False)
        subprocess.run(["rm", "-rf", work])
    print(f"{compared} traced probes and {real_n} real packets compared with the model "
          f"({zs.traces} traces in all), {failed_seeds} seeds disagreed ({real_bad} real packets)")
    return 0 if failed_seeds == 0 and compared > 0 and (real_n > 0 or not a.real_every) else 1


if __name__ == "__main__":
    sys.exit(main())

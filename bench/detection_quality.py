#!/usr/bin/env python3
"""Scores a detection_quality.sh run: which alerts belong to which attack,
how long after each attack's end each detector first alerted, and how many
alerts the normal traffic raised.

    detection_quality.py RUN.json ALERTS.jsonl [--json OUT]

RUN.json (written by detection_quality.sh):
  {"mode": "quick"|"full", "target_s": 10, "bound_s": 60,
   "normal": {"start": T, "learning_end": T, "end": T},
   "attacks": [{"name": ..., "command": ..., "sources": [IP...],
                "ports": [22, ...] (optional: only alerts naming one of them),
                "start": T, "end": T}]}      (T: Unix seconds, float)
An alert belongs to an attack when its source is one of the attack's and it
was raised after the attack started (and, with "ports", it names one of
them in its targets, summary or evidence). Every other alert is false.
Times are the alert's "raised" (when the agent raised it); an agent that
does not write it is scored by "time" (the flow record's), and the output
says so."""
import argparse
import json
import re
import sys
from datetime import datetime


def unix(text):
    # RFC 3339 with up to nanoseconds and Z
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text}")
    base = datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    return base.timestamp() + (float("0" + m.group(2)) if m.group(2) else 0.0)


def names_port(alert, ports):
    text = " ".join(alert.get("targets", []) + [alert.get("summary", "")] + alert.get("evidence", []))
    return any(re.search(rf"[:/]{p}\b", text) for p in ports)


def score(run, alerts):
    clock = "raised"
    for a in alerts:
        if "raised" not in a:
            clock = "time"
        a["_t"] = unix(a.get("raised", a["time"]))
    attacks = []
    claimed = set()
    for atk in run["attacks"]:
        mine = []
        for i, a in enumerate(alerts):
            if a["source"]["ip"] not in atk["sources"] or a["_t"] < atk["start"] - 1:
                continue
            if atk.get("ports") and a["detector"] != "chain" and not names_port(a, atk["ports"]):
                continue
            mine.append(a)
            claimed.add(i)
        by_detector = {}
        for a in sorted(mine, key=lambda a: a["_t"]):
            d = by_detector.setdefault(a["detector"], {"alerts": 0, "first_after_end_s": round(a["_t"] - atk["end"], 1),
                                                       "severity": a["severity"], "mitre": a["mitre"]})
            d["alerts"] += 1
        first = min((a["_t"] for a in mine), default=None)
        delay = None if first is None else round(first - atk["end"], 1)
        attacks.append({
            "name": atk["name"], "command": atk["command"], "duration_s": round(atk["end"] - atk["start"], 1),
            "detected": first is not None and first - atk["end"] <= run["bound_s"],
            "within_target": first is not None and first - atk["end"] <= run["target_s"],
            "first_alert_after_end_s": delay, "detectors": by_detector,
            # when the script's poll (every second) first saw an alert from the
            # attack's own source: the observer's clock, for any agent
            "seen_after_end_s": None if atk.get("seen") is None else round(atk["seen"] - atk["end"], 1),
        })
    n = run["normal"]
    false = [a for i, a in enumerate(alerts) if i not in claimed]
    after_learning = [a for a in false if a["_t"] >= n["learning_end"]]
    hours = max(n["end"] - n["learning_end"], 1) / 3600
    normal = {
        "seconds": round(n["end"] - n["learning_end"], 1),
        "learning_s": round(n["learning_end"] - n["start"], 1),
        "false_alerts": len(after_learning),
        "false_alerts_per_hour": round(len(after_learning) / hours, 1),
        "false_alerts_while_learning": len(false) - len(after_learning),
        "false_by_detector": {},
        "false_examples": [f'{a["detector"]} {a["source"]["name"]}: {a["summary"]}' for a in false[:10]],
    }
    for a in false:
        normal["false_by_detector"][a["detector"]] = normal["false_by_detector"].get(a["detector"], 0) + 1
    # per detector: which attacks it caught (seconds after each end) and its false alerts
    detectors = {}
    for atk in attacks:
        for d, v in atk["detectors"].items():
            detectors.setdefault(d, {"attacks": {}, "false_alerts": 0})["attacks"][atk["name"]] = v["first_after_end_s"]
    for d, n_false in normal["false_by_detector"].items():
        detectors.setdefault(d, {"attacks": {}, "false_alerts": 0})["false_alerts"] = n_false
    return {"mode": run["mode"], "target_s": run["target_s"], "bound_s": run["bound_s"], "clock": clock,
            "attacks": attacks, "detectors": detectors, "normal": normal}


def table(res):
    lines = [f'detection quality ({res["mode"]}; seconds from each attack\'s end to its first alert, '
             f'by the alert\'s "{res["clock"]}" (first) and as the script\'s poll saw it (seen); '
             f'negative: during the attack)']
    lines.append(f'{"attack":<14} {"took":>6} {"first":>6} {"seen":>6}  detectors (first alert after the end)')
    for a in res["attacks"]:
        first = "-" if a["first_alert_after_end_s"] is None else f'{a["first_alert_after_end_s"]:+.1f}'
        dets = ", ".join(f'{k} {v["first_after_end_s"]:+.1f}' for k, v in
                         sorted(a["detectors"].items(), key=lambda kv: kv[1]["first_after_end_s"])) or "NOT DETECTED"
        mark = "" if a["within_target"] else f'  (over {res["target_s"]} s)' if a["detected"] else ""
        seen = "-" if a["seen_after_end_s"] is None else f'{a["seen_after_end_s"]:+.0f}'
        lines.append(f'{a["name"]:<14} {a["duration_s"]:>5.0f}s {first:>6} {seen:>6}  {dets}{mark}')
    lines.append("by detector: attacks caught (seconds after their end); false alerts")
    for d, v in sorted(res["detectors"].items()):
        caught = ", ".join(f"{k} {t:+.1f}" for k, t in sorted(v["attacks"].items(), key=lambda kv: kv[1])) or "none"
        lines.append(f'  {d:<18} {caught}; false {v["false_alerts"]}')
    n = res["normal"]
    lines.append(f'normal traffic: {n["seconds"]:.0f} s after a {n["learning_s"]:.0f} s learning period: '
                 f'{n["false_alerts"]} false alerts ({n["false_alerts_per_hour"]}/h), '
                 f'{n["false_alerts_while_learning"]} while learning')
    for e in n["false_examples"]:
        lines.append("  false: " + e)
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run")
    p.add_argument("alerts")
    p.add_argument("--json", default="")
    a = p.parse_args()
    run = json.load(open(a.run))
    alerts = [json.loads(line) for line in open(a.alerts) if line.strip()]
    res = score(run, alerts)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
    print(table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""List false splits / merges and thread splits of a scored run: python3 errs.py RUN.json TOWN"""

import collections
import json
import sys

d = json.load(open(sys.argv[1]))
town = sys.argv[2]
t = json.load(open(town + "/truth.json"))
evs = [json.loads(l) for l in open(town + "/events.jsonl")]
by_subj = collections.defaultdict(list)
for e in evs:
    by_subj[e["subject"]].append(e)
for s in d["splits"]:
    print("== SPLIT", s["truth"], json.dumps(s["person"], ensure_ascii=False))
    for h, v in s["pieces"].items():
        print("  piece", h)
        for k, f, n in v:
            print("     ", k, json.dumps(f, ensure_ascii=False), n)
for m in d["merges"]:
    print("== MERGE", m["hub"])
    for tp, v in m["truth"].items():
        for k, f, n in v:
            print("     ", tp, k, json.dumps(f, ensure_ascii=False), n)
grp = collections.defaultdict(set)
for i, g in enumerate(d["thread_partition"]):
    for k in g:
        grp[t["threads"][k]].add(i)
for mid, ids in grp.items():
    if len(ids) > 1:
        ks = [k for k, v in t["threads"].items() if v == mid]
        print("== THREAD SPLIT", mid, [[k for k in d["thread_partition"][i]] for i in ids])
        for k in ks:
            for e in by_subj[k.split("|")[2]]:
                if e["type"] in (
                    "police.incident.reported",
                    "police.incident.referred",
                    "city.case.reported",
                    "police.case.opened",
                    "court.case.filed",
                    "city.case.escalated",
                ):
                    dd = {
                        x: e["data"].get(x)
                        for x in ("address", "refs", "incident_id", "to_agency")
                        if x in e["data"]
                    }
                    print(
                        "     ",
                        e["time"],
                        e["type"],
                        e["subject"],
                        json.dumps(dd, ensure_ascii=False),
                    )

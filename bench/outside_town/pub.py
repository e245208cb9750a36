#!/usr/bin/env python3
"""Publish a town through the HTTP gateway, then wait until the hub has applied and resolved it.

python3 pub.py TOWN/events.jsonl [--batch 50] [--shuffle SEED]
"""

import argparse
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request

API = "http://127.0.0.1:8610"
TOK = {
    "police": "probe10-pub-police-token-abcdef0123",
    "city": "probe10-pub-city-token-abcdef012345",
    "civil": "probe10-pub-civil-token-abcdef01234",
    "court": "probe10-pub-court-token-abcdef01234",
}
READ = {
    "Authorization": "Bearer probe10-investigator-police-token-abcdef",
    "X-Purpose": "investigation",
}


def post(agency, evs):
    body = json.dumps(evs, ensure_ascii=False).encode()
    req = urllib.request.Request(
        API + "/v1/events",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/cloudevents-batch+json",
            "Authorization": "Bearer " + TOK[agency],
        },
    )
    for attempt in range(5):
        try:
            return json.loads(urllib.request.urlopen(req, timeout=60).read())
        except urllib.error.HTTPError as e:
            txt = e.read().decode()
            if e.code in (429, 503):
                time.sleep(2)
                continue
            raise SystemExit(f"gateway {e.code}: {txt[:2000]}")
    raise SystemExit("gateway kept refusing")


def resolution_offsets():
    txt = urllib.request.urlopen(API + "/metrics", timeout=30).read().decode()
    return sorted(l for l in txt.splitlines() if l.startswith("hub_consumed_offset"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("events")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--shuffle", type=int, default=None)
    a = ap.parse_args()
    evs = [json.loads(l) for l in open(a.events)]
    if a.shuffle is not None:
        random.Random(a.shuffle).shuffle(evs)
    offsets = {}
    i = 0
    t0 = time.time()
    nb = 0
    while i < len(evs):
        ag = evs[i]["agency"]
        j = i
        while j < len(evs) and j - i < a.batch and evs[j]["agency"] == ag:
            j += 1
        ans = post(ag, evs[i:j])
        nb += 1
        for tok in ans.get("min_offset", "").split(","):
            if tok:
                tp, off = tok.rsplit(":", 1)
                offsets[tp] = max(offsets.get(tp, 0), int(off))
        i = j
    print(f"published {len(evs)} events in {nb} batches in {time.time() - t0:.1f}s")
    mo = ",".join(f"{k}:{v}" for k, v in sorted(offsets.items()))
    while True:
        try:
            req = urllib.request.Request(
                API + "/v1/cases?limit=1&min_offset=" + urllib.parse.quote(mo), headers=READ
            )
            urllib.request.urlopen(req, timeout=30).read()
            break
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
            time.sleep(2)
    print(f"applied after {time.time() - t0:.1f}s; waiting for resolution to settle")
    last, same = None, 0
    while same < 4:
        time.sleep(4)
        cur = resolution_offsets()
        same = same + 1 if cur == last else 0
        last = cur
    print(f"settled after {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()

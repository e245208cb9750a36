#!/usr/bin/env python3
"""Read persons, threads and places back from the hub and score them against truth.json.

python3 score.py TOWN/truth.json TOWN/events.jsonl --out RUN.json
"""

import argparse
import collections
import itertools
import json
import urllib.error
import urllib.parse
import urllib.request

API = "http://127.0.0.1:8610"
H = {
    "Authorization": "Bearer probe10-investigator-police-token-abcdef",
    "X-Purpose": "investigation",
}
calls = collections.Counter()


def get(path, **q):
    url = API + path + ("?" + urllib.parse.urlencode(q) if q else "")
    calls[path.split("/")[2]] += 1
    req = urllib.request.Request(url, headers=H)
    try:
        return json.loads(urllib.request.urlopen(req, timeout=60).read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def pages(path, **q):
    cur = None
    while True:
        qq = dict(q, limit=100)
        if cur:
            qq["cursor"] = cur
        d = get(path, **qq)
        yield from d["items"]
        cur = d.get("next")
        if not cur:
            return


def prf(truth_of, hub_of, keys):
    """pairwise precision/recall over keys; truth_of/hub_of map key -> cluster label."""

    def pairs(lab):
        g = collections.defaultdict(list)
        for k in keys:
            g[lab(k)].append(k)
        return {tuple(sorted(p)) for v in g.values() for p in itertools.combinations(v, 2)}

    T = pairs(truth_of)
    Hh = pairs(hub_of)
    tp = len(T & Hh)
    p = tp / len(Hh) if Hh else 1.0
    r = tp / len(T) if T else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "P": round(p, 4),
        "R": round(r, 4),
        "F1": round(f, 4),
        "truth_pairs": len(T),
        "hub_pairs": len(Hh),
        "tp": tp,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("truth")
    ap.add_argument("events")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    truth = json.load(open(a.truth))
    M = truth["mentions"]
    evs = [json.loads(l) for l in open(a.events)]

    # ---------- threads ----------
    case_list = list(pages("/v1/cases"))
    ref_thread = {}
    dup_refs = []
    for c in case_list:
        for r in c["refs"]:
            k = f"{r['agency']}|{r['kind']}|{r['id']}"
            if k in ref_thread and ref_thread[k] != c["case_id"]:
                dup_refs.append(k)
            ref_thread[k] = c["case_id"]
    tkeys = list(truth["threads"])
    missing_threads = [k for k in tkeys if k not in ref_thread]
    for i, k in enumerate(missing_threads):
        ref_thread[k] = f"MISSING{i}"
    threads = prf(lambda k: truth["threads"][k], lambda k: ref_thread[k], tkeys)
    threads["missing_refs"] = missing_threads
    threads["refs_in_two_threads"] = dup_refs

    # ---------- coherence: list vs single read ----------
    incoh = []
    for c in case_list:
        s = get(f"/v1/cases/{c['case_id']}")
        if s is None:
            incoh.append((c["case_id"], "single read 404"))
            continue
        for f in ("case_id", "stage", "status", "category", "overdue"):
            if c.get(f) != s.get(f):
                incoh.append((c["case_id"], f, c.get(f), s.get(f)))
        for f in ("refs", "persons"):
            a1 = sorted(json.dumps(x, sort_keys=True) for x in c.get(f) or [])
            a2 = sorted(json.dumps(x, sort_keys=True) for x in s.get(f) or [])
            if a1 != a2:
                incoh.append((c["case_id"], f, a1, a2))

    # ---------- persons ----------
    pids = set()
    for c in case_list:
        for p in c.get("persons") or []:
            pids.add(p["person_id"])
    found = {}

    def take(items):
        for p in items:
            found[p["person_id"]] = p

    nids = {m["fields"].get("national_id") for m in M.values()} | {
        p["nid"] for p in truth["people"].values()
    }
    for n in sorted(x for x in nids if x):
        take(pages("/v1/persons", national_id=n))
    names = {m["fields"]["name"] for m in M.values()} | {
        p["name"] for p in truth["people"].values()
    }
    for n in sorted(names):
        take(pages("/v1/persons", name=n))
    place_of_text = {}
    for g in truth["grids"]:
        for pl in pages("/v1/places", grid=g):
            for r in pl.get("residents") or []:
                pids.add(r)
            for sp in pl.get("spellings") or []:
                place_of_text[sp] = pl["place_id"]
    for pid in pids - set(found):
        d = get(f"/v1/persons/{pid}")
        if d:
            found[d["person_id"]] = d
    # canonical persons
    rec_person = {}
    conflicts = []
    persons = {}
    for pid, p in found.items():
        persons[p["person_id"]] = p
    dup_cases = []
    for pid, p in persons.items():
        for r in p["records"]:
            k = f"{r['agency']}|{r['id']}"
            if k in rec_person and rec_person[k] != pid:
                conflicts.append((k, rec_person[k], pid))
            rec_person[k] = pid
        cids = [c["case_id"] for c in p.get("cases") or []]
        if len(cids) != len(set(cids)):
            dup_cases.append((pid, [c for c, n in collections.Counter(cids).items() if n > 1]))
        thread_ids = {c["case_id"] for c in case_list}
        for c in cids:
            if c not in thread_ids:
                dup_cases.append((pid, "case id not a list thread id: " + c))
    unknown_records = [k for k in rec_person if k not in M]
    missing = [k for k in M if k not in rec_person]
    mkeys = list(M)
    hub_of = lambda k: rec_person.get(k, "MISSING:" + k)  # noqa: E731
    persons_score = prf(lambda k: M[k]["person"], hub_of, mkeys)
    persons_score.update(
        {
            "mentions": len(M),
            "missing_mentions": len(missing),
            "hub_persons": len(persons),
            "truth_persons": len({m["person"] for m in M.values()}),
            "record_in_two_persons": len(conflicts),
            "unknown_records": unknown_records[:20],
        }
    )

    # ---------- places ----------
    P = truth["places"]
    ptexts = list(P)
    # texts the hub never spelled: look at person addresses
    for p in persons.values():
        for ad in p.get("addresses") or []:
            place_of_text.setdefault(ad["text"], ad["place_id"])
    pl_missing = [t for t in ptexts if t not in place_of_text]
    places = prf(lambda t: P[t]["place"], lambda t: place_of_text.get(t, "MISSING:" + t), ptexts)
    places["missing_texts"] = pl_missing
    by_kind = collections.Counter()
    place_groups = collections.defaultdict(set)
    for t in ptexts:
        place_groups[P[t]["place"]].add(place_of_text.get(t, "MISSING:" + t))
    for t in ptexts:
        if len(place_groups[P[t]["place"]]) > 1:
            by_kind[P[t]["kind"]] += 1
    hub_place_truth = collections.defaultdict(set)
    for t in ptexts:
        hub_place_truth[place_of_text.get(t, "MISSING:" + t)].add(P[t]["place"])
    places["texts_in_split_places_by_kind"] = dict(by_kind)
    places["merged_hub_places"] = [(h, sorted(v)) for h, v in hub_place_truth.items() if len(v) > 1]

    # ---------- error listing ----------
    clusters = collections.defaultdict(list)
    for k in mkeys:
        clusters[hub_of(k)].append(k)
    merges = []
    for h, ks in clusters.items():
        tp = collections.defaultdict(list)
        for k in ks:
            tp[M[k]["person"]].append(k)
        if len(tp) > 1:
            merges.append(
                {
                    "hub": h,
                    "truth": {
                        t: [(k, M[k]["fields"], M[k]["noise"]) for k in v] for t, v in tp.items()
                    },
                }
            )
    splits = []
    tcl = collections.defaultdict(list)
    for k in mkeys:
        tcl[M[k]["person"]].append(k)
    for t, ks in tcl.items():
        hp = collections.defaultdict(list)
        for k in ks:
            hp[hub_of(k)].append(k)
        if len(hp) > 1:
            splits.append(
                {
                    "truth": t,
                    "person": truth["people"][t],
                    "pieces": {
                        h: [(k, M[k]["fields"], M[k]["noise"]) for k in v] for h, v in hp.items()
                    },
                }
            )
    res = {
        "persons": persons_score,
        "threads": threads,
        "places": places,
        "coherence": {
            "list_vs_single_mismatch": incoh[:50],
            "n_list_vs_single_mismatch": len(incoh),
            "person_cases_dups": dup_cases[:50],
            "n_person_cases_dups": len(dup_cases),
            "cases_listed": len(case_list),
        },
        "merges": merges,
        "splits": splits,
        "partition": sorted(sorted(v) for v in clusters.values()),
        "thread_partition": sorted(
            sorted(k for k in tkeys if ref_thread[k] == c)
            for c in set(ref_thread[k] for k in tkeys)
        ),
        "calls": dict(calls),
        "n_events": len(evs),
    }
    json.dump(res, open(a.out, "w"), ensure_ascii=False, indent=1)
    short = {
        k: {kk: vv for kk, vv in v.items() if not isinstance(vv, list) or len(vv) < 6}
        for k, v in res.items()
        if k in ("persons", "threads", "places")
    }
    print(json.dumps(short, ensure_ascii=False, indent=1))
    print(
        "coherence:",
        res["coherence"]["n_list_vs_single_mismatch"],
        "list/single mismatches;",
        res["coherence"]["n_person_cases_dups"],
        "person cases[] problems;",
        len(case_list),
        "threads listed",
    )
    print(f"false-merge clusters: {len(merges)}  split truth persons: {len(splits)}")


if __name__ == "__main__":
    main()

"""Who is who, scored the Fellegi–Sunter way and clustered so that arrival order never shows.

Two records of a person are compared field by field (identity number, name, birth date,
phone, place); each field agrees at a level (``exact``, ``sound``, ``close``…) or differs,
or is missing on one side (no evidence either way). A level weighs ``log2(m/u)``: how much
likelier that level is between two records of one person (m) than between two records of
different people (u). The m and u probabilities are estimated from the data by
expectation–maximisation (:func:`train`) over the pairs blocking finds; the exact-name level
is adjusted for how common the name is (王伟 says less than 欧阳春晓).

:func:`projections.clustering.cluster` turns the scores of a region of records into the
links that make its persons.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from projections.names import name_frequency, normalize_name, sound_key

FIELDS = ("national_id", "name", "birth_date", "phone", "place")
LEVELS: dict[str, tuple[str, ...]] = {
    "national_id": ("exact", "close", "differ"),
    "name": ("exact", "sound", "close", "differ"),
    "birth_date": ("exact", "close", "differ"),
    "phone": ("exact", "close", "differ"),
    "place": ("exact", "differ"),
}


@dataclass(frozen=True, slots=True)
class Record:
    """What one agency record says of its person (the ``mention`` row)."""

    record: str
    name: str | None
    national_id: str | None
    nid_valid: bool
    birth_date: str | None
    phone: str | None
    place_id: str | None


def _one_typo(a: str, b: str, min_len: int = 7) -> bool:
    """One character changed, or two neighbours swapped: the slips of typing a number (too
    short a string, and every change is one of these)."""
    if len(a) != len(b) or a == b or len(a) < min_len:
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diff) == 1:
        return True
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and a[diff[0]] == b[diff[1]]
        and a[diff[1]] == b[diff[0]]
    )


def trusted_nid(r: Record) -> str | None:
    """The record's identity number as evidence of who it is: a valid number that does not
    contradict the birth date the same record states (the number holds the birth date; one
    that disagrees with it was mistyped, into a number that happens to pass the check)."""
    if not (r.nid_valid and r.national_id):
        return None
    n = r.national_id
    if r.birth_date and f"{n[6:10]}-{n[10:12]}-{n[12:14]}" != r.birth_date:
        return None
    return n


def _two_typos(a: str, b: str) -> bool:
    """Two slips: two characters changed, or a swap of neighbours and one changed."""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diff) <= 2:
        return True
    for i in diff:
        if i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i]:
            swapped = a[:i] + a[i + 1] + a[i] + a[i + 2 :]
            return _one_typo(swapped, b) or swapped == b
    return False


def _date_close(a: str, b: str) -> bool:
    """Same date but for one of year, month or day, or day and month swapped."""
    pa, pb = a.split("-"), b.split("-")
    if len(pa) != 3 or len(pb) != 3:
        return False
    same = sum(x == y for x, y in zip(pa, pb, strict=True))
    return same == 2 or (pa[0] == pb[0] and pa[1] == pb[2] and pa[2] == pb[1])


def compare(a: Record, b: Record) -> dict[str, str]:
    """The comparison vector: each field present on both sides → its agreement level."""
    out: dict[str, str] = {}
    if a.national_id and b.national_id:
        out["national_id"] = (
            "exact"
            if a.national_id == b.national_id
            else "close"
            if _one_typo(a.national_id, b.national_id)
            # a number that fails its check, or contradicts the birth date its own record
            # states, was mistyped: two slips from the other is that number written
            # badly, not another person's
            or (
                not (trusted_nid(a) and trusted_nid(b)) and _two_typos(a.national_id, b.national_id)
            )
            else "differ"
        )
    if a.name and b.name:
        na, nb = normalize_name(a.name), normalize_name(b.name)
        out["name"] = (
            "exact"
            if na == nb
            else "sound"
            if sound_key(na) == sound_key(nb)
            else "close"
            if _one_typo(na, nb, min_len=2)
            else "differ"
        )
    if a.birth_date and b.birth_date:
        out["birth_date"] = (
            "exact"
            if a.birth_date == b.birth_date
            else "close"
            if _date_close(a.birth_date, b.birth_date)
            else "differ"
        )
    if a.phone and b.phone:
        out["phone"] = (
            "exact" if a.phone == b.phone else "close" if _one_typo(a.phone, b.phone) else "differ"
        )
    if a.place_id and b.place_id:
        out["place"] = "exact" if a.place_id == b.place_id else "differ"
    return out


@dataclass
class Model:
    """m and u per field and level, and the prior odds of a blocked pair being a match."""

    version: str
    m: dict[str, dict[str, float]]
    u: dict[str, dict[str, float]]
    # Odds that two records drawn at random are one person: about one in the number of
    # people a district's records name.
    prior: float = 1e-4
    link_at: float = 0.99  # match probability that links
    candidate_at: float = 0.5  # … that asks a person
    veto_below: float = -8.0  # a pair this far below even odds is two people: never joined
    tf_name: bool = True

    def weight(self, vector: dict[str, str], name: str | None = None) -> float:
        """log2 of the posterior odds that the pair is one person."""
        w = math.log2(self.prior / (1 - self.prior))
        for f, level in vector.items():
            u = self.u[f][level]
            if f == "name" and level == "exact" and self.tf_name and name:
                u = name_frequency(name)
            w += math.log2(self.m[f][level] / u)
        return w

    def probability(self, weight: float) -> float:
        return 1 / (1 + 2**-weight) if weight > -60 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "m": self.m,
            "u": self.u,
            "prior": self.prior,
            "link_at": self.link_at,
            "candidate_at": self.candidate_at,
            "veto_below": self.veto_below,
            "tf_name": self.tf_name,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Model:
        """A model as :meth:`to_dict` wrote it; ValueError naming what is wrong."""
        try:
            m, u = doc["m"], doc["u"]
            for f in FIELDS:
                for level in LEVELS[f]:
                    if not (0 < float(m[f][level]) <= 1 and 0 < float(u[f][level]) <= 1):
                        raise ValueError(f"{f}.{level}: m and u must be in (0, 1]")
            return cls(
                str(doc["version"]),
                m,
                u,
                float(doc["prior"]),
                float(doc["link_at"]),
                float(doc["candidate_at"]),
                float(doc["veto_below"]),
                bool(doc["tf_name"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a match model: missing or wrong {exc}") from None

    @property
    def link_weight(self) -> float:
        return math.log2(self.link_at / (1 - self.link_at))

    @property
    def candidate_weight(self) -> float:
        return math.log2(self.candidate_at / (1 - self.candidate_at))


# Starting values (and the model used until one is trained on the data): what agency data
# is like. Identity numbers are mistyped in a few percent of records, names in a few more,
# phones change; two different people rarely share a phone or a birth date.
DEFAULT = Model(
    version="fs/default-1",
    m={
        "national_id": {"exact": 0.93, "close": 0.05, "differ": 0.02},
        "name": {"exact": 0.88, "sound": 0.06, "close": 0.03, "differ": 0.03},
        "birth_date": {"exact": 0.95, "close": 0.03, "differ": 0.02},
        "phone": {"exact": 0.8, "close": 0.04, "differ": 0.16},
        "place": {"exact": 0.7, "differ": 0.3},
    },
    u={
        "national_id": {"exact": 1e-7, "close": 1e-5, "differ": 1 - 1.01e-5},
        "name": {"exact": 1e-4, "sound": 3e-4, "close": 2e-3, "differ": 1 - 2.4e-3},
        "birth_date": {"exact": 1 / 20_000, "close": 1 / 5_000, "differ": 1 - 2.5e-4},
        "phone": {"exact": 1e-5, "close": 1e-4, "differ": 1 - 1.1e-4},
        "place": {"exact": 1e-3, "differ": 1 - 1e-3},
    },
)


M_FLOOR = 0.005


SHIPPED = Path(__file__).with_name("match_model.json")


def load_model(path: Path | None = None) -> Model:
    """The model a deployment matches with: the file ``path`` names (``HUB_MATCH_MODEL``,
    written by ``civic-hub match train``), else the one shipped with the hub (trained on the
    simulated city), else the starting values."""
    source = path or (SHIPPED if SHIPPED.exists() else None)
    if source is None:
        return DEFAULT
    try:
        return Model.from_dict(orjson.loads(source.read_bytes()))
    except (OSError, orjson.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"match model {source}: {exc}") from None


def train(
    blocked: Sequence[dict[str, str]],
    random_pairs: Sequence[dict[str, str]],
    start: Model = DEFAULT,
    rounds: int = 25,
    version: str = "fs/em",
) -> Model:
    """Weights from the data, as Splink estimates them: u (how often two *different* people
    agree by chance) counted over record pairs drawn without blocking, which are nearly all
    non-matches; then m (how often one person's records agree) and the prior by
    expectation–maximisation over the pairs blocking found, u held fixed. Deterministic:
    fixed start, fixed rounds, no sampling here (the caller chooses the pairs). Levels never
    seen keep their starting value, so a small sample cannot make a level impossible."""
    u: dict[str, dict[str, float]] = {}
    for f in FIELDS:
        counts = dict.fromkeys(LEVELS[f], 0)
        for v in random_pairs:
            if f in v:
                counts[v[f]] += 1
        n = sum(counts.values())
        # below one chance agreement in the sample, keep the prior belief (never zero)
        u[f] = {k: (c / n if n and c else start.u[f][k]) for k, c in counts.items()}
        total = sum(u[f].values())
        u[f] = {k: x / total for k, x in u[f].items()}
    m = {f: dict(v) for f, v in start.m.items()}
    prior = start.prior
    for _ in range(rounds):
        model = Model(version, m, u, prior, tf_name=False)
        post = [model.probability(model.weight(v)) for v in blocked]
        total = sum(post)
        if not blocked or total <= 0:
            break
        prior = min(max(total / len(blocked), 1e-4), 0.99)
        for f in FIELDS:
            pm = {k: 0.01 * start.m[f][k] for k in LEVELS[f]}  # a light pull to the start
            for v, p in zip(blocked, post, strict=True):
                if f in v:
                    pm[v[f]] += p
            sm = sum(pm.values())
            # No level is ever impossible for one person: a sample without a mistyped birth
            # date must not make one such record a veto against its person.
            floored = {k: max(x / sm, M_FLOOR) for k, x in pm.items()}
            m[f] = {k: x / sum(floored.values()) for k, x in floored.items()}
    # The prior that scores a pair is that of a blocked pair in general, not of this sample.
    digest = hashlib.blake2b(
        orjson.dumps([m, u], option=orjson.OPT_SORT_KEYS), digest_size=4
    ).hexdigest()
    return Model(
        f"{version}-{digest}",
        m,
        u,
        start.prior,
        start.link_at,
        start.candidate_at,
        start.veto_below,
        start.tf_name,
    )


@dataclass(frozen=True, slots=True)
class Scored:
    a: str
    b: str
    weight: float
    vector: dict[str, str] = field(hash=False, compare=False)


def score(model: Model, a: Record, b: Record) -> Scored:
    x, y = (a, b) if a.record < b.record else (b, a)
    vector = compare(x, y)
    name = x.name if vector.get("name") == "exact" else None
    return Scored(x.record, y.record, model.weight(vector, name), vector)

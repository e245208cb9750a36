"""Fellegi–Sunter scoring and order-free clustering of person records (pure, in memory)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.clustering import cluster
from projections.matching import DEFAULT, Record, compare, name_frequency, score, train


def rec(
    r: str,
    name: str | None = None,
    nid: str | None = None,
    valid: bool = False,
    birth: str | None = None,
    phone: str | None = None,
    place: str | None = None,
) -> Record:
    return Record(r, name, nid, valid, birth, phone, place)


def test_levels_tolerate_how_agencies_write() -> None:
    a = rec("a", "段兰萍", "110105198001010021", birth="1980-01-01", phone="13800138000")
    b = rec("b", "段　兰萍", "110105198001010012", birth="1980-01-10", phone="13800183000")
    assert compare(a, b) == {
        "name": "exact",
        "national_id": "close",
        "birth_date": "close",
        "phone": "close",
    }
    assert compare(rec("a", "李娜"), rec("b", "黎娜"))["name"] == "sound"
    assert compare(rec("a", "买买提·吐尔逊"), rec("b", "买买提吐尔逊"))["name"] == "exact"
    assert compare(rec("a", "王伟", phone="1"), rec("b", None, phone="2")) == {"phone": "differ"}


def test_a_common_name_weighs_less_than_a_rare_one() -> None:
    assert name_frequency("王伟") > 50 * name_frequency("欧阳春晓")
    common = score(DEFAULT, rec("a", "王伟", place="x"), rec("b", "王伟", place="x"))
    rare = score(DEFAULT, rec("a", "欧阳春晓", place="x"), rec("b", "欧阳春晓", place="x"))
    assert rare.weight > common.weight + 5


def test_name_and_phone_link_name_alone_does_not() -> None:
    s = score(
        DEFAULT, rec("a", "张秀英", phone="13911112222"), rec("b", "张秀英", phone="13911112222")
    )
    assert s.weight >= DEFAULT.link_weight
    s = score(DEFAULT, rec("a", "张伟"), rec("b", "张伟"))
    assert s.weight < DEFAULT.link_weight


def test_name_and_same_room_link() -> None:
    s = score(DEFAULT, rec("a", "刘桂英", place="PL-1"), rec("b", "刘桂英", place="PL-1"))
    assert s.weight >= DEFAULT.link_weight


def _region() -> tuple[list[Record], list[tuple[str, str]]]:
    rs = [
        rec(
            "civil:resident:1",
            "陈明",
            "110105198001010037",
            True,
            "1980-01-01",
            "13900000001",
            "PL-1",
        ),
        rec("city:case-party:1", "陈明", None, False, None, "13900000001", None),
        rec("police:incident-party:1", "程明", None, False, "1980-01-01", "13900000001", None),
        rec("court:case-party:1", "陈明", None, False, None, None, "PL-1"),
        rec(
            "civil:resident:2",
            "陈明",
            "110105199002020013",
            True,
            "1990-02-02",
            "13700000002",
            "PL-2",
        ),
        rec("city:case-party:2", "陈明", None, False, "1990-02-02", "13700000002", None),
    ]
    return rs, []


def test_cluster_makes_the_two_people_of_the_region() -> None:
    rs, joined = _region()
    pairs = [score(DEFAULT, a, b) for i, a in enumerate(rs) for b in rs[i + 1 :]]
    links = cluster(DEFAULT, rs, pairs, joined)
    groups: dict[str, set[str]] = {r.record: {r.record} for r in rs}
    for a, b in links:
        merged = groups[a] | groups[b]
        for x in merged:
            groups[x] = merged
    assert groups["civil:resident:1"] == {
        "civil:resident:1",
        "city:case-party:1",
        "police:incident-party:1",
        "court:case-party:1",
    }
    assert groups["civil:resident:2"] == {"civil:resident:2", "city:case-party:2"}


def test_two_valid_numbers_are_never_joined() -> None:
    a = rec("a", "王芳", "110105198001010021", True, "1980-01-01", "13800000000")
    b = rec("b", "王芳", "110105198001010048", True, "1980-01-01", "13800000000")
    x = rec("x", "王芳", None, False, "1980-01-01", "13800000000")
    pairs = [score(DEFAULT, p, q) for p, q in ((a, x), (b, x), (a, b))]
    links = cluster(DEFAULT, [a, b, x], pairs)
    assert len(links) == 1  # x joins one of them, never both


def test_a_rejected_pair_stays_apart() -> None:
    a = rec("a", "张秀英", phone="13911112222")
    b = rec("b", "张秀英", phone="13911112222")
    assert cluster(DEFAULT, [a, b], [score(DEFAULT, a, b)], rejected=[("b", "a")]) == set()


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_cluster_does_not_depend_on_the_order_it_is_given(rnd: random.Random) -> None:
    rs, joined = _region()
    pairs = [score(DEFAULT, a, b) for i, a in enumerate(rs) for b in rs[i + 1 :]]
    expected = cluster(DEFAULT, rs, pairs, joined)
    rs2, pairs2 = rs[:], pairs[:]
    rnd.shuffle(rs2)
    rnd.shuffle(pairs2)
    # the same pair scored from the other side is the same pair
    pairs2 = [
        score(DEFAULT, *rnd.sample([x for x in rs if x.record in (p.a, p.b)], 2)) for p in pairs2
    ]
    assert cluster(DEFAULT, rs2, pairs2, joined) == expected


def test_em_learns_weights_and_keeps_every_level_possible() -> None:
    rs, _ = _region()
    blocked = [compare(a, b) for i, a in enumerate(rs) for b in rs[i + 1 :]]
    strangers = [
        compare(
            rec("p", "李雷", birth="1970-03-03", phone="1"),
            rec("q", "韩梅梅", birth="1971-04-04", phone="2"),
        )
    ] * 50
    model = train(blocked, strangers)
    assert model.version.startswith("fs/em-")
    for f, levels in model.m.items():
        assert abs(sum(levels.values()) - 1) < 1e-9
        assert min(levels.values()) > 0, f
        assert abs(sum(model.u[f].values()) - 1) < 1e-9
    assert model.m["phone"]["exact"] > model.u["phone"]["exact"]


def test_a_model_round_trips_and_a_bad_file_says_what_is_wrong(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from projections.matching import Model, load_model

    assert Model.from_dict(DEFAULT.to_dict()) == DEFAULT
    assert load_model().version.startswith("fs/")  # the shipped model loads
    bad = tmp_path / "model.json"
    bad.write_text('{"version": "x", "m": {}, "u": {}}')
    try:
        load_model(bad)
    except ValueError as exc:
        assert "model.json" in str(exc) and "missing or wrong" in str(exc)
    else:
        raise AssertionError("a model without weights was accepted")


def _persons(records: list[Record], links: set[tuple[str, str]]) -> set[frozenset[str]]:
    parent = {r.record: r.record for r in records}

    def find(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in links:
        parent[find(a)] = find(b)
    out: dict[str, set[str]] = {}
    for r in records:
        out.setdefault(find(r.record), set()).add(r.record)
    return {frozenset(v) for v in out.values()}


def test_a_name_alone_joins_its_thread_mate() -> None:
    # a grid member's note of a party by name alone, and the police record of that party
    note = rec("city:case-party:C1/1", "周玉梅")
    police = rec("police:case-party:P1/suspect", "周玉梅", "110101199310251189", True, "1993-10-25")
    pairs = [score(DEFAULT, note, police)]
    assert cluster(DEFAULT, [note, police], pairs) == set()  # a name alone is not a person
    links = cluster(DEFAULT, [note, police], pairs, mates=[(note.record, police.record)])
    assert links == {(note.record, police.record)}


def test_thread_mates_of_two_people_join_no_one() -> None:
    # two people of one name in one matter: the note cannot say which one it is
    note = rec("n", "王伟")
    a = rec("a", "王伟", "110105198001010021", True, "1980-01-01")
    b = rec("b", "王伟", None, False, "1990-05-05", "13900000000")
    mates = [("a", "n"), ("b", "n"), ("a", "b")]
    pairs = [score(DEFAULT, x, y) for x, y in ((a, note), (b, note), (a, b))]
    assert cluster(DEFAULT, [note, a, b], pairs, mates=mates) == set()


def test_thread_mates_join_across_a_date_written_two_ways_or_a_mistyped_valid_number() -> None:
    # the court wrote her birth date day-first and swapped two digits of her number
    police = rec("p", "李娜", "330106199103086144", True, "1991-03-08")
    court = rec("c", "李娜", "330106199100386144", False, "1991-08-03")
    pairs = [score(DEFAULT, police, court)]
    assert cluster(DEFAULT, [police, court], pairs, mates=[("c", "p")]) == {("c", "p")}
    # a number two slips from hers, failing its check: her number written badly
    suspect = rec("s", "王伟", "330106199004299398", True, "1990-04-29")
    party = rec("q", "王伟", "330106190909299398", False, "1990-04-29")
    assert compare(suspect, party)["national_id"] == "close"
    pairs = [score(DEFAULT, suspect, party)]
    assert cluster(DEFAULT, [suspect, party], pairs, mates=[("q", "s")]) == {("q", "s")}
    # a mistyped number that happens to pass the check, but contradicts the birth date its
    # own record states, says nothing against the valid one
    party = rec("q", "王伟", "330106199009299397", True, "1990-04-29")
    assert compare(suspect, party)["national_id"] == "close"
    pairs = [score(DEFAULT, suspect, party)]
    assert cluster(DEFAULT, [suspect, party], pairs, mates=[("q", "s")]) == {("q", "s")}
    # two valid numbers that agree with their records are two people, mates or not
    other = rec("o", "王伟", "33010619900924939X", True, "1990-09-24")
    assert compare(suspect, other)["national_id"] == "differ"
    pairs = [score(DEFAULT, suspect, other)]
    assert cluster(DEFAULT, [suspect, other], pairs, mates=[("o", "s")]) == set()
    # two people of one name whose dates are not one date written two ways stay apart
    a = rec("a", "李娜", None, False, "1991-03-08")
    b = rec("b", "李娜", None, False, "1985-11-20")
    pairs = [score(DEFAULT, a, b)]
    assert cluster(DEFAULT, [a, b], pairs, mates=[("a", "b")]) == set()


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_thread_mates_do_not_depend_on_order(rnd: random.Random) -> None:
    rs = [
        rec("n1", "李娜"),
        rec("n2", "黎娜"),
        rec("p", "李娜", "110105198001010021", True, "1980-01-01"),
        rec("q", "李娜", None, False, "1980-01-01", "13911112222"),
        rec("z", "赵敏", phone="13800000000"),
        rec("z2", "赵敏"),
    ]
    mates = [("n1", "n2"), ("n1", "p"), ("n2", "q"), ("z", "z2")]
    pairs = [score(DEFAULT, a, b) for i, a in enumerate(rs) for b in rs[i + 1 :]]
    expected = _persons(rs, cluster(DEFAULT, rs, pairs, mates=mates))
    assert frozenset({"n1", "n2", "p", "q"}) in expected
    assert frozenset({"z", "z2"}) in expected
    rs2, pairs2, mates2 = rs[:], pairs[:], [tuple(rnd.sample(m, 2)) for m in mates]
    rnd.shuffle(rs2)
    rnd.shuffle(pairs2)
    rnd.shuffle(mates2)
    assert _persons(rs, cluster(DEFAULT, rs2, pairs2, mates=mates2)) == expected  # type: ignore[arg-type]

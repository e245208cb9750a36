"""Grid boundaries for the map: made from grid codes (the simulated district) or read from a
district's GeoJSON file."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import orjson
import pytest

from hub.geo import GeoError, GridMap, cell_of, grid_polygon

SIMULATED = [f"110105{s:03d}{c:03d}{g:02d}" for s, c in ((1, 1), (1, 2), (2, 5)) for g in (1, 2, 3)]


def _edges(ring: list[list[float]]) -> set[tuple[tuple[float, ...], tuple[float, ...]]]:
    return {tuple(sorted((tuple(a), tuple(b)))) for a, b in pairwise(ring)}


def test_the_same_code_is_drawn_in_the_same_place_every_time() -> None:
    assert grid_polygon("11010500100101") == grid_polygon("11010500100101")
    assert len({cell_of(c) for c in SIMULATED}) == len(SIMULATED), "one cell per grid"


def test_neighbouring_grids_share_their_border_exactly() -> None:
    """Given grids 01 and 02 of one community (side by side), their shared edge is the same
    two segments in both polygons: no gap, no overlap on the map."""
    a = grid_polygon("11010500100101")
    b = grid_polygon("11010500100102")
    assert a and b
    assert len(_edges(a[0]) & _edges(b[0])) == 2
    ring = a[0]
    assert ring[0] == ring[-1] and len(ring) == 9


def test_codes_that_do_not_nest_have_no_shape() -> None:
    assert grid_polygon("97abc") is None and grid_polygon("110105000000") is None
    out = GridMap("generated").collection(
        [{"grid": "97abc", "open": 1}, {"grid": SIMULATED[0], "open": 2}]
    )
    assert out["unmapped"] == ["97abc"]
    assert [f["properties"] for f in out["features"]] == [{"grid": SIMULATED[0], "open": 2}]
    assert [f["properties"]["district"] for f in out["base"]["features"]] == ["110105"]


def test_a_real_districts_boundaries_come_from_its_file(tmp_path: Path) -> None:
    square = [[[116.0, 39.0], [116.01, 39.0], [116.01, 39.01], [116.0, 39.01], [116.0, 39.0]]]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"grid": "G-1", "name": "花家地北"},
                "geometry": {"type": "Polygon", "coordinates": square},
            },
            {
                "type": "Feature",
                "properties": {"code": "G-2"},
                "geometry": {"type": "Polygon", "coordinates": square},
            },
        ],
    }
    path = tmp_path / "grids.geojson"
    path.write_bytes(orjson.dumps(doc))
    gm = GridMap.from_env({"HUB_GRID_GEOJSON": str(path), "HUB_TIMEZONE": "Asia/Urumqi"})
    assert gm.source == "file" and gm.timezone == "Asia/Urumqi"
    out = gm.collection([{"grid": "G-1", "open": 3}, {"grid": "11010500100101", "open": 1}])
    props = {f["properties"]["grid"]: f["properties"] for f in out["features"]}
    assert props == {
        "G-1": {"grid": "G-1", "name": "花家地北", "open": 3},
        "G-2": {"grid": "G-2", "code": "G-2"},
    }
    assert out["unmapped"] == ["11010500100101"]


def test_a_boundary_file_that_cannot_be_used_is_refused_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_bytes(
        orjson.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon"}}
                ],
            }
        )
    )
    with pytest.raises(GeoError, match=r"properties\.grid"):
        GridMap.from_env({"HUB_GRID_GEOJSON": str(bad)})
    with pytest.raises(GeoError, match="does not exist"):
        GridMap.from_env({"HUB_GRID_GEOJSON": str(tmp_path / "none.geojson")})
    with pytest.raises(GeoError, match="HUB_TIMEZONE"):
        GridMap.from_env({"HUB_TIMEZONE": "Mars/Olympus"})

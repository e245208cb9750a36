"""Grid boundaries for the command center's map (网格进图), as GeoJSON.

A real district's boundaries come from a file (``HUB_GRID_GEOJSON``: a FeatureCollection
whose features carry the grid code in ``properties.grid``). Without one, the simulated
district gets plausible polygons made from the grid codes alone, deterministically, so the
same code is drawn in the same place on every machine and every run.

How a code becomes a shape: a code nests district (6 digits) → street (+3) → community
(+3) → grid (+2 or +3). Each district is a square of 24 × 24 lattice units placed near its
real centre (Beijing's districts are listed; others fall on a ring around them), cut into
4 × 4 streets of 6 × 6 units, each into 2 × 2 communities of 3 × 3 units, each into 3 × 3
grid cells of one unit. Lattice vertices and edge midpoints are nudged by a hash of their
position, so neighbours share every border exactly and the borders look drawn, not ruled.
Codes that do not nest like this have no shape (the page lists them beside the map).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

DEFAULT_TIMEZONE = "Asia/Shanghai"
UNIT = 0.0035  # degrees of latitude per lattice unit (~390 m): a grid of a few hundred homes
CODE = re.compile(r"^(?P<district>\d{6})(?P<street>\d{3})(?P<community>\d{3})(?P<grid>\d{2,3})$")
# Near the real centres of Beijing's districts (lon, lat): the simulator's districts.
CENTRES = {
    "110101": (116.416, 39.929),
    "110102": (116.366, 39.915),
    "110105": (116.486, 39.948),
    "110106": (116.287, 39.858),
    "110107": (116.195, 39.914),
    "110108": (116.298, 39.959),
    "110112": (116.657, 39.910),
    "110114": (116.231, 40.221),
}
LON_SCALE = 1.3  # a degree of longitude is ~0.77 of a degree of latitude at 40°N


class GeoError(ValueError):
    """A boundary file that cannot be used; the message says which and why."""


def _nudge(*key: object) -> tuple[float, float]:
    """A deterministic offset in [-0.5, 0.5)² for a lattice point (no global random)."""
    h = hashlib.blake2b(repr(key).encode(), digest_size=4).digest()
    return h[0] / 256 - 0.5 + h[1] / 65536, h[2] / 256 - 0.5 + h[3] / 65536


def _origin(district: str) -> tuple[float, float]:
    """South-west corner of a district's square, in degrees."""
    if district in CENTRES:
        lon, lat = CENTRES[district]
    else:  # not a known district: a stable spot on a ring around the city
        a, b = _nudge("district", district)
        lon, lat = 116.40 + a * 0.9, 39.90 + b * 0.6
    half = 12 * UNIT
    return lon - half * LON_SCALE, lat - half


def _point(district: str, x: float, y: int | float, jitter: float) -> list[float]:
    lon0, lat0 = _origin(district)
    dx, dy = _nudge(district, x, y) if jitter else (0.0, 0.0)
    return [
        round(lon0 + (x + dx * jitter) * UNIT * LON_SCALE, 6),
        round(lat0 + (y + dy * jitter) * UNIT, 6),
    ]


def cell_of(code: str) -> tuple[str, int, int] | None:
    """(district, x, y) of a grid's lattice cell, or None when the code does not nest."""
    m = CODE.match(code)
    if not m:
        return None
    street, community, grid = (int(m[k]) - 1 for k in ("street", "community", "grid"))
    if min(street, community, grid) < 0:
        return None
    sx, sy = street % 4, (street // 4) % 4
    cx, cy = community % 2, (community // 2) % 2
    gx, gy = grid % 3, (grid // 3) % 3
    return m["district"], sx * 6 + cx * 3 + gx, sy * 6 + cy * 3 + gy


def point_in_grid(code: str, *key: object) -> tuple[float, float] | None:
    """A point well inside a simulated grid (lon, lat), the same for the same ``key``: where
    the simulator puts a place of that grid (the middle of the cell, clear of its jittered
    edges)."""
    cell = cell_of(code)
    if cell is None:
        return None
    district, x, y = cell
    u, v = _nudge("place", code, *key)  # each in [-0.5, 0.5)
    lon, lat = _point(district, x + 0.5 + u * 0.4, y + 0.5 + v * 0.4, 0.0)
    return lon, lat


def grid_polygon(code: str) -> list[list[list[float]]] | None:
    """The GeoJSON Polygon coordinates of a simulated grid (a closed ring, counter-clockwise)."""
    cell = cell_of(code)
    if cell is None:
        return None
    district, x, y = cell
    corners = [(x, y), (x + 1, y), (x + 1, y + 1), (x, y + 1)]
    ring: list[list[float]] = []
    for (ax, ay), (bx, by) in zip(corners, [*corners[1:], corners[0]], strict=True):
        # The district's outer edge stays straight; inner vertices move up to 0.3 units.
        inner = 0 < ax < 24 and 0 < ay < 24
        ring.append(_point(district, ax, ay, 0.3 if inner else 0.0))
        mx, my = (ax + bx) / 2, (ay + by) / 2
        on_border = (ax == bx and ax in (0, 24)) or (ay == by and ay in (0, 24))
        ring.append(_point(district, mx, my, 0.0 if on_border else 0.25))
    ring.append(ring[0])
    return [ring]


def district_outline(district: str) -> list[list[list[float]]]:
    return [[_point(district, x, y, 0.0) for x, y in ((0, 0), (24, 0), (24, 24), (0, 24), (0, 0))]]


@dataclass
class GridMap:
    """Where each grid is drawn: from a boundary file, or made from the codes."""

    source: str  # "file" or "generated"
    features: dict[str, dict[str, Any]] = field(default_factory=dict)  # grid → Feature
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GridMap:
        env = os.environ if env is None else env
        tz = env.get("HUB_TIMEZONE") or DEFAULT_TIMEZONE
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise GeoError(f"HUB_TIMEZONE must be an IANA time zone, got {tz!r}") from None
        path = env.get("HUB_GRID_GEOJSON")
        return cls.load(Path(path), tz) if path else cls("generated", timezone=tz)

    @classmethod
    def load(cls, path: Path, timezone: str = DEFAULT_TIMEZONE) -> GridMap:
        """A district's real boundaries: a FeatureCollection of Polygon/MultiPolygon
        features, each with its code in ``properties.grid`` (or ``code``)."""
        try:
            doc = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            raise GeoError(f"HUB_GRID_GEOJSON: {path} does not exist") from None
        except orjson.JSONDecodeError as exc:
            raise GeoError(f"HUB_GRID_GEOJSON: {path} is not JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
            raise GeoError(f"HUB_GRID_GEOJSON: {path} must hold a GeoJSON FeatureCollection")
        out: dict[str, dict[str, Any]] = {}
        for i, f in enumerate(doc.get("features") or []):
            props = (f or {}).get("properties") or {}
            code = props.get("grid") or props.get("code")
            geom = (f or {}).get("geometry") or {}
            if not isinstance(code, str) or not code:
                raise GeoError(f"HUB_GRID_GEOJSON: feature {i} has no properties.grid")
            if geom.get("type") not in ("Polygon", "MultiPolygon"):
                raise GeoError(
                    f"HUB_GRID_GEOJSON: grid {code} is a {geom.get('type')!r}, "
                    "not a Polygon or MultiPolygon"
                )
            out[code] = {"type": "Feature", "geometry": geom, "properties": {**props, "grid": code}}
        return cls("file", out, timezone)

    def feature(self, code: str) -> dict[str, Any] | None:
        if self.source == "file":
            return self.features.get(code)
        poly = grid_polygon(code)
        if poly is None:
            return None
        return {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": poly},
            "properties": {"grid": code},
        }

    def collection(self, grids: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """The grids (each a mapping with at least ``grid``) as a FeatureCollection, their
        other keys as properties; plus the outlines the page draws as its offline base."""
        features, unmapped, districts = [], [], set()
        wanted = {g["grid"]: g for g in grids}
        codes = list(wanted)
        if self.source == "file":  # a real district: every grid it draws, cases or not
            codes += [c for c in self.features if c not in wanted]
        for code in codes:
            f = self.feature(code)
            if f is None:
                unmapped.append(code)
                continue
            props = {**f["properties"], **wanted.get(code, {"grid": code})}
            features.append({**f, "properties": props})
            if self.source == "generated":
                districts.add(code[:6])
        base = [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": district_outline(d)},
                "properties": {"district": d},
            }
            for d in sorted(districts)
        ]
        return {
            "type": "FeatureCollection",
            "features": features,
            "base": {"type": "FeatureCollection", "features": base},
            "unmapped": sorted(unmapped),
            "source": self.source,
        }

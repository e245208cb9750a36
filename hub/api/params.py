"""Path and query parameters shared by the routers, each with a bound and an example, so the
OpenAPI document shows a caller what to send and oversized input is a 400, never a 5xx."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

PersonId = Annotated[
    str,
    Path(
        max_length=64,
        examples=["P-a92b61bb612f4cc6"],
        description="A hub person id (any id the person was known by)",
    ),
]
CaseId = Annotated[
    str,
    Path(
        max_length=64,
        examples=["C-3f0c1d2e4b5a6978"],
        description="A hub case id (any record of the thread)",
    ),
]
PlaceId = Annotated[str, Path(max_length=64, examples=["PL-ac20ecaf42b1cc60"])]
GridCode = Annotated[
    str,
    Path(
        max_length=32,
        examples=["11010500100101"],
        description="district (6) + street (3) + community (3) + grid (2)",
    ),
]
DecisionId = Annotated[str, Path(max_length=64, examples=["D-7d1e0c5b9a3f2e41"])]
Limit = Annotated[int, Query(ge=1, le=200, examples=[50])]

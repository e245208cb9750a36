"""``GET /v1/purposes``: the purpose codes of the access policy with their labels, so a
caller (the command center page among them) can offer them to choose from (contract 5)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query

from hub.api.context import ReadContext, reader, v1_router

router = v1_router(tags=["purposes"])
PurposesReader = Annotated[ReadContext, Depends(reader("purposes"))]


@router.get(
    "/v1/purposes",
    summary="Purpose codes X-Purpose may carry, with their labels",
    description="`X-Purpose` is one of these codes, optionally followed by `; ` and free text, "
    "percent-encoded UTF-8 (RFC 3986), e.g. `duty-watch; %E5%A4%9C%E7%8F%AD` for "
    "duty-watch; 夜班. `label` is in `lang` (zh-CN by default); `labels` has every language.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "items": [
                            {
                                "code": "duty-watch",
                                "label": "值班巡查",
                                "labels": {"zh-CN": "值班巡查", "en": "Duty watch"},
                            }
                        ],
                        "next": None,
                    }
                }
            }
        }
    },
)
async def list_purposes(
    ctx: PurposesReader, lang: Annotated[Literal["zh-CN", "en"], Query()] = "zh-CN"
) -> dict[str, Any]:
    policy = ctx.policy
    items = [
        {"code": code, "label": policy.purpose_label(code, lang), "labels": labels}
        for code, labels in policy.purposes.items()
    ]
    await ctx.done([])
    return {"items": items, "next": None}

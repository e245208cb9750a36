"""What the case and grid routes need of coordination: the rules in force (loaded once at
start from HUB_RULES, see :func:`hub.bootstrap.coordination_rules`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from projections.coordination.rules import Rules


def rules_in_force(request: Request) -> Rules:
    rules: Rules = request.app.state.rules
    return rules


RulesInForce = Annotated[Rules, Depends(rules_in_force)]

"""The one policy point every read passes. Deny by default.

This first version decides by role and purpose; graded fields (data grades in the
catalog), sealed cases, and per-agency visibility come with the command-center issue and
plug in here, not in the endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.tokens import Principal

# resource → roles that may read it
READERS: dict[str, frozenset[str]] = {
    "person": frozenset({"command-center", "investigator"}),
    "case": frozenset({"command-center", "investigator"}),
    "place": frozenset({"command-center", "investigator"}),
    "audit": frozenset({"auditor"}),
}
# resources whose reads must state a purpose (X-Purpose)
NEEDS_PURPOSE = frozenset({"person"})
MAX_PURPOSE = 500


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str


def decide(principal: Principal, resource: str, purpose: str | None) -> Decision:
    roles = READERS.get(resource)
    if roles is None or principal.role not in roles:
        return Decision(False, f"role {principal.role!r} may not read {resource} records")
    if resource in NEEDS_PURPOSE:
        if not purpose or not purpose.strip():
            return Decision(False, "person reads must state why: send an X-Purpose header")
        if len(purpose) > MAX_PURPOSE:
            return Decision(False, f"X-Purpose is longer than {MAX_PURPOSE} characters")
    return Decision(True, "allowed")

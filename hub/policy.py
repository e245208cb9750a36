"""The one policy point every read passes. Deny by default.

Who may read which resource, which reads must state a purpose, and which content only some
agencies may see, come from a policy file (``hub/policy.toml``, or ``HUB_POLICY``). The
API asks :meth:`Policy.decide` before a read and passes every answer through the
``mask_*`` functions; other agencies then see that a restricted record exists and whom to
ask, not its content.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.tokens import Principal

DEFAULT_POLICY = Path(__file__).with_name("policy.toml")
MAX_PURPOSE = 500
KNOWN_WHAT = ("case.sealed", "person.assistance")


class PolicyError(ValueError):
    """The policy file cannot be used; the message says where."""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str


@dataclass
class Policy:
    readers: dict[str, frozenset[str]]
    needs_purpose: frozenset[str]
    sealed_visible_to: frozenset[str] = frozenset()
    assistance_visible_to: frozenset[str] = frozenset()
    roles_visible_to: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        path = path or DEFAULT_POLICY
        try:
            doc = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise PolicyError(f"policy file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
        p = cls(readers={k: frozenset(v) for k, v in (doc.get("readers") or {}).items()},
                needs_purpose=frozenset((doc.get("purpose") or {}).get("required_for", [])))
        for name, rule in (doc.get("restricted") or {}).items():
            what, who = rule.get("what"), frozenset(rule.get("visible_to", []))
            if what == "case.sealed":
                p.sealed_visible_to = who
            elif what == "person.assistance":
                p.assistance_visible_to = who
            elif isinstance(what, str) and what.startswith("role:") and len(what) > 5:
                p.roles_visible_to[what[5:]] = who
            else:
                raise PolicyError(f"{path}: restricted.{name}: `what` must be one of "
                                  f"{', '.join(KNOWN_WHAT)} or role:<role>, got {what!r}")
        return p

    def decide(self, principal: Principal, resource: str, purpose: str | None) -> Decision:
        roles = self.readers.get(resource)
        if roles is None or principal.role not in roles:
            return Decision(False, f"role {principal.role!r} may not read {resource} records")
        if resource in self.needs_purpose:
            if not purpose or not purpose.strip():
                return Decision(False, f"{resource} reads must state why: send an X-Purpose "
                                "header")
            if len(purpose) > MAX_PURPOSE:
                return Decision(False, f"X-Purpose is longer than {MAX_PURPOSE} characters")
        return Decision(True, "allowed")

    # -- masking ------------------------------------------------------------------------
    def _role_hidden(self, principal: Principal, role: str | None) -> frozenset[str] | None:
        who = self.roles_visible_to.get(role or "")
        return who if who is not None and principal.agency not in who else None

    def mask_person(self, principal: Principal, person: dict[str, Any]) -> tuple[dict, bool]:
        """The person as ``principal`` may see it, and whether anything was withheld."""
        masked = False
        out = dict(person)
        if out.get("assistance") and principal.agency not in self.assistance_visible_to:
            out["assistance"] = [{"restricted": True, "ask": sorted(self.assistance_visible_to)}]
            masked = True
        cases = []
        for c in out.get("cases", []):
            who = self._role_hidden(principal, c.get("role"))
            if who is not None:
                cases.append({"case_id": None, "role": "restricted", "agency": c.get("agency"),
                              "ask": sorted(who)})
                masked = True
            else:
                cases.append(c)
        out["cases"] = cases
        records = []
        for r in out.get("records", []):
            hidden = next((w for role, w in self.roles_visible_to.items()
                           if f"/{role}/" in str(r.get("id")) and principal.agency not in w),
                          None)
            if hidden is not None:
                records.append({"agency": r["agency"], "kind": r["kind"], "id": None,
                                "ask": sorted(hidden)})
                masked = True
            else:
                records.append(r)
        out["records"] = records
        return out, masked

    def case_sealed_for(self, principal: Principal, case: dict[str, Any]) -> bool:
        return bool(case.get("sealed")) and principal.agency not in self.sealed_visible_to

    def mask_case(self, principal: Principal, case: dict[str, Any]) -> tuple[dict, bool]:
        if self.case_sealed_for(principal, case):
            return {"case_id": case["case_id"], "sealed": True, "status": "restricted",
                    "ask": sorted(self.sealed_visible_to)}, True
        masked = False
        out = dict(case)
        persons = []
        for p in out.get("persons", []):
            who = self._role_hidden(principal, p.get("role"))
            if who is not None:
                persons.append({"person_id": None, "role": "restricted",
                                "agency": p.get("agency"), "ask": sorted(who)})
                masked = True
            else:
                persons.append(p)
        out["persons"] = persons
        return out, masked

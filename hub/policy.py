"""The one policy point every read passes. Deny by default.

Who may read which resource, which reads must state a purpose, and which content only some
agencies may see, come from a policy file (``hub/policy.toml``, or ``HUB_POLICY``). The
API asks :meth:`Policy.decide` before a read and passes every answer through the
``mask_*`` functions; other agencies then see that a restricted record exists and whom to
ask, not its content.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from hub.tokens import Principal

DEFAULT_POLICY = Path(__file__).with_name("policy.toml")
MAX_PURPOSE = 500
KNOWN_WHAT = ("case.sealed", "person.assistance")
PURPOSE_CODE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
LABEL_LANGUAGES = ("zh-CN", "en")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PolicyError(ValueError):
    """The policy file cannot be used; the message says where."""


class PurposeError(ValueError):
    """An X-Purpose header that is not a known code (with optional text) as the contract
    says; the message tells the caller what to send."""


@dataclass(frozen=True, slots=True)
class Purpose:
    """A stated purpose: the policy's code and the free text as the person typed it."""

    code: str
    text: str = ""

    def stored(self) -> str:
        """As the audit keeps it: the code, then ``; `` and the decoded text if any."""
        return f"{self.code}; {self.text}" if self.text else self.code


@dataclass(frozen=True, slots=True)
class AccessDecision:
    allowed: bool
    reason: str


@dataclass
class Policy:
    readers: dict[str, frozenset[str]]
    needs_purpose: frozenset[str]
    sealed_visible_to: frozenset[str] = frozenset()
    assistance_visible_to: frozenset[str] = frozenset()
    roles_visible_to: dict[str, frozenset[str]] = field(default_factory=dict)
    purposes: dict[str, dict[str, str]] = field(default_factory=dict)  # code → language → label
    # graded fields (x-grade in the schemas): the roles that see secret values (identity
    # numbers, phones) in full; others see them masked, as 110105********002X
    secret_roles: frozenset[str] | None = None  # None: no grading (everyone sees them)

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        path = path or DEFAULT_POLICY
        try:
            doc = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise PolicyError(f"policy file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
        p = cls(
            readers={k: frozenset(v) for k, v in (doc.get("readers") or {}).items()},
            needs_purpose=frozenset((doc.get("purpose") or {}).get("required_for", [])),
        )
        for name, rule in (doc.get("restricted") or {}).items():
            what, who = rule.get("what"), frozenset(rule.get("visible_to", []))
            if what == "case.sealed":
                p.sealed_visible_to = who
            elif what == "person.assistance":
                p.assistance_visible_to = who
            elif isinstance(what, str) and what.startswith("role:") and len(what) > 5:
                p.roles_visible_to[what[5:]] = who
            else:
                raise PolicyError(
                    f"{path}: restricted.{name}: `what` must be one of "
                    f"{', '.join(KNOWN_WHAT)} or role:<role>, got {what!r}"
                )
        grades = doc.get("grades") or {}
        unknown = sorted(set(grades) - {"secret"})
        if unknown:
            raise PolicyError(f"{path}: grades: only `secret` is graded, not {unknown}")
        if "secret" in grades:
            p.secret_roles = frozenset(grades["secret"])
        for code, labels in (doc.get("purposes") or {}).items():
            if not PURPOSE_CODE.match(code):
                raise PolicyError(
                    f"{path}: purposes.{code}: a code is lower-case letters, "
                    "digits and '-', starting with a letter"
                )
            missing = [
                lang
                for lang in LABEL_LANGUAGES
                if not isinstance((labels or {}).get(lang), str) or not labels[lang]
            ]
            if missing:
                raise PolicyError(
                    f"{path}: purposes.{code}: needs a label for {', '.join(missing)}"
                )
            p.purposes[code] = {k: v for k, v in labels.items() if isinstance(v, str)}
        return p

    def parse_purpose(self, raw: str | None) -> Purpose | None:
        """``X-Purpose`` as sent: ``code`` or ``code; free text``, the text percent-encoded
        UTF-8 (RFC 3986) so a browser can send it. A header of raw UTF-8 bytes (as curl sends
        what is typed) is read as UTF-8 too: HTTP servers hand headers over as Latin-1, which
        is where a typed 值班巡查 used to turn into mojibake."""
        if raw is None or not raw.strip():
            return None
        try:
            raw = raw.encode("latin-1").decode("utf-8")
        except UnicodeError:
            raise PurposeError(
                "X-Purpose is not UTF-8: percent-encode the text (encodeURIComponent)"
            ) from None
        code, sep, rest = raw.partition(";")
        code = code.strip()
        try:
            code = unquote(code, errors="strict")
            text = unquote(rest, errors="strict").strip() if sep else ""
        except UnicodeDecodeError:
            raise PurposeError("X-Purpose: the percent-encoded text is not UTF-8") from None
        if code not in self.purposes:
            known = ", ".join(sorted(self.purposes)) or "none configured"
            raise PurposeError(
                f"X-Purpose must start with a purpose code from GET /v1/purposes "
                f"({known}), optionally followed by '; ' and percent-encoded "
                f"text; got {code[:60]!r}"
            )
        if CONTROL.search(text):
            raise PurposeError("X-Purpose text must not contain control characters")
        if len(text) > MAX_PURPOSE:
            raise PurposeError(f"X-Purpose text is longer than {MAX_PURPOSE} characters")
        return Purpose(code, text)

    def purpose_label(self, code: str, language: str) -> str:
        labels = self.purposes.get(code, {})
        return labels.get(language) or labels.get("zh-CN") or code

    def decide(self, principal: Principal, resource: str, purpose: str | None) -> AccessDecision:
        roles = self.readers.get(resource)
        if roles is None or principal.role not in roles:
            return AccessDecision(False, f"role {principal.role!r} may not read {resource} records")
        if resource in self.needs_purpose:
            if not purpose or not purpose.strip():
                return AccessDecision(
                    False, f"{resource} reads must state why: send an X-Purpose header"
                )
            if len(purpose) > MAX_PURPOSE:
                return AccessDecision(False, f"X-Purpose is longer than {MAX_PURPOSE} characters")
        return AccessDecision(True, "allowed")

    # -- masking ------------------------------------------------------------------------
    def _role_hidden(self, principal: Principal, role: str | None) -> frozenset[str] | None:
        who = self.roles_visible_to.get(role or "")
        return who if who is not None and principal.agency not in who else None

    def withhold(
        self, principal: Principal
    ) -> Callable[[str, list[str], bool], frozenset[str] | None]:
        """For building a person from the records ``principal`` may see: whom to ask about a
        record (its id, its roles in cases, whether its thread is sealed), or None."""
        sealed_hidden = principal.agency not in self.sealed_visible_to

        def ask(record: str, roles: list[str], sealed: bool) -> frozenset[str] | None:
            who: set[str] = set()
            if sealed and sealed_hidden:
                who |= self.sealed_visible_to
            for role, visible in self.roles_visible_to.items():
                if principal.agency not in visible and (role in roles or f"/{role}/" in record):
                    who |= visible
            return frozenset(who) if who else None

        return ask

    def mask_person(self, principal: Principal, person: dict[str, Any]) -> tuple[dict, bool]:
        """The person as ``principal`` may see it, and whether anything was withheld. The
        person should be built from the records the reader may see (:meth:`withhold`);
        anything restricted that is still here is dropped into the one ``withheld`` marker,
        which says whom to ask and not why."""
        out = dict(person)
        ask: set[str] = set((out.get("withheld") or {}).get("ask", []))
        dropped = (out.get("withheld") or {}).get("count", 0)
        if out.get("assistance") and principal.agency not in self.assistance_visible_to:
            out["assistance"] = []
            ask |= self.assistance_visible_to
            dropped += 1
        ask_of = self.withhold(principal)
        cases = []
        for c in out.get("cases", []):
            roles = [r.get("role") for r in c.get("roles") or [c]]
            who = ask_of("", [r for r in roles if r], bool(c.get("sealed")))
            if who is None:
                cases.append({k: v for k, v in c.items() if k != "sealed"})
            else:
                ask |= who
                dropped += 1
        out["cases"] = cases
        records = []
        for r in out.get("records", []):
            who = ask_of(str(r.get("id")), [], bool(r.get("sealed")))
            if who is None:
                records.append({k: v for k, v in r.items() if k != "sealed"})
            else:
                ask |= who
                dropped += 1
        out["records"] = records
        graded = self.secret_roles is not None and principal.role not in self.secret_roles
        if graded:
            for key in ("national_id",):
                if out.get(key):
                    out[key] = masked_digits(out[key], 6, 4)
            for key in ("national_ids", "unverified_national_ids"):
                out[key] = [masked_digits(v, 6, 4) for v in out.get(key) or []]
            out["phones"] = [masked_digits(v, 3, 4) for v in out.get("phones") or []]
        if ask:
            out["withheld"] = {"count": dropped, "ask": sorted(ask)}
        return out, bool(ask) or (graded and bool(out.get("national_ids") or out.get("phones")))

    def mask_place(self, principal: Principal, place: dict[str, Any]) -> tuple[dict, bool]:
        """A place without the ids of sealed threads for those who may not see them (one
        withheld marker: whom to ask)."""
        out = {k: v for k, v in place.items() if k != "sealed_cases"}
        sealed = set(place.get("sealed_cases") or [])
        if not sealed or principal.agency in self.sealed_visible_to:
            return out, False
        out["cases"] = [c for c in out.get("cases", []) if c not in sealed]
        out["withheld"] = {"count": len(sealed), "ask": sorted(self.sealed_visible_to)}
        return out, True

    def case_sealed_for(self, principal: Principal, case: dict[str, Any]) -> bool:
        return bool(case.get("sealed")) and principal.agency not in self.sealed_visible_to

    def mask_case(self, principal: Principal, case: dict[str, Any]) -> tuple[dict, bool]:
        if self.case_sealed_for(principal, case):
            # that it exists and whom to ask, not why (sealed is not said)
            return {
                "case_id": case["case_id"],
                "status": "restricted",
                "ask": sorted(self.sealed_visible_to),
            }, True
        out = dict(case)
        persons, ask, dropped = [], set(), 0
        for p in out.get("persons", []):
            who = self._role_hidden(principal, p.get("role"))
            if who is not None:  # left out, counted in the one marker: whom to ask, not why
                ask |= who
                dropped += 1
            else:
                persons.append(p)
        out["persons"] = persons
        if ask:
            out["withheld"] = {"count": dropped, "ask": sorted(ask)}
        return out, bool(ask)


def masked_digits(value: str, head: int, tail: int) -> str:
    """A secret number as shown to those below its grade: its first and last characters."""
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]

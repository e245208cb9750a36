"""Test-wide settings. In CI (CI=true) hypothesis runs derandomized: the same examples every
run, so a submission lands or not on its code, not on a draw; locally it explores anew."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

"""Shared by the package tests: where the release binary is, and how a missing prerequisite
is reported (a skip outside CI, a failure in CI)."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("HARBORGUARD_RELEASE_BIN", str(REPO / ".build/release/harborguard"))


def need(condition, reason):
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)

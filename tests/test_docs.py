"""The README documents every quarantine reason and duplicate kind the code can produce."""

from __future__ import annotations

import pytest

from pipelines.core.reasons import DuplicateKind, Reason

from .conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", [*Reason, *DuplicateKind])
def test_readme_lists_every_reason_and_kind(name: str) -> None:
    assert f"`{name}`" in README, f"README.md does not mention `{name}`"

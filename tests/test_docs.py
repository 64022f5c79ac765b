"""The documented input contract matches the code."""

from __future__ import annotations

from crm.contract import FIELDS
from tests.conftest import REPO_ROOT


def test_input_format_doc_lists_every_column_and_alias():
    doc = (REPO_ROOT / "docs" / "input_format.md").read_text(encoding="utf-8")
    for source, fields in FIELDS.items():
        assert f"## {source}" in doc
        for field in fields:
            assert f"`{field.name}`" in doc, field.name
            for alias in field.aliases:
                assert alias in doc, f"{source}.{field.name}: alias {alias!r} undocumented"


def test_readme_shows_the_two_commands():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme

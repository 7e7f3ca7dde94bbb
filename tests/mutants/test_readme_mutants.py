"""README's mutants table and commands row kept in step with the defect catalog."""

from __future__ import annotations

import re

from runner.consumers.defects import MUTANTS
from tests.engine.conftest import REPO


def test_readme_lists_every_mutant_of_the_catalog_and_no_other() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Can every drill fail? (`mkdrill mutants`)", 1)[1].split("\n## ", 1)[
        0
    ]
    listed = re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE)
    assert listed == [d.value for d in MUTANTS]
    assert "| `mkdrill mutants [DRILL...] [--suite S] [--out DIR]" in readme
    assert "(section `mutants`)" in section and "`mutants_quick_s`, `mutants_full_s`" in readme

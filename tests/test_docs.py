"""The documentation stands alone: README and docs/ link only to files in this repository, and
the contract (docs/design.md) states the exit codes the CLI really uses."""

from __future__ import annotations

import re

from tests.helpers import REPO_ROOT

DOCS = [REPO_ROOT / "README.md"] + sorted((REPO_ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_links_stay_inside_the_repository():
    for doc in DOCS:
        text = doc.read_text()
        assert "../shared" not in text and "shared/DESIGN" not in text, doc
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path = (doc.parent / target.split("#")[0]).resolve()
            assert REPO_ROOT.resolve() in path.parents or path == REPO_ROOT.resolve(), (doc.name, target)
            assert path.exists(), (doc.name, target)


def test_design_documents_the_contract():
    text = (REPO_ROOT / "docs" / "design.md").read_text()
    for heading in ("## 1. The profile", "## 3. The plan: `spma-plan/1`", "## 4. Errors: `spma-error/1`",
                    "## 5. Exit codes", "## 6. State"):  # fmt: skip
        assert heading in text
    from spma.cli import EXIT_TABLE

    codes = re.findall(r"^\s+(\d+)\s", EXIT_TABLE, re.M)
    for code in codes:  # every exit code the CLI documents is in the contract's table
        assert re.search(r"^\| %s \|" % code, text, re.M), code
    readme = (REPO_ROOT / "README.md").read_text()
    assert "docs/design.md" in readme

"""Links in the README and the other Markdown files reach what they name, for a reader of a checkout.

The project has no public home yet: a link goes to a file of the repository (relative), to a page of the
built site, or to another project's site, never to a host of this project's own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPOSITORY

PAGES = [
    *sorted(REPOSITORY.glob("*.md")),
    REPOSITORY / "emulator" / "README.md",
    *sorted((REPOSITORY / "docs").rglob("*.md")),
]
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
# Where the project means to live one day; nothing there answers yet.
UNPUBLISHED_HOMES = ("airflow-ml-provider.readthedocs.io", "github.com/airflow-ml-provider")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def github_anchor(heading: str) -> str:
    """The anchor a Markdown viewer gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors_of(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {github_anchor(match[1]) for match in re.finditer(r"^#+\s+(.*)$", text, re.M)}


def links(page: Path) -> list[str]:
    return [match["target"] for match in LINK.finditer(FENCE.sub("", page.read_text()))]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPOSITORY)))
def test_no_link_points_to_a_host_the_project_does_not_have(page: Path):
    wrong = [target for target in links(page) if any(home in target for home in UNPUBLISHED_HOMES)]
    malformed = [target for target in links(page) if re.search(r"https?://.*https?://", target)]
    assert wrong == []
    assert malformed == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPOSITORY)))
def test_every_relative_link_reaches_a_file_and_its_heading(page: Path):
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        # The site's own build checks anchors between its pages; the repository's files are checked here.
        repository_heading = (
            anchor and file.suffix == ".md" and "docs" not in file.relative_to(REPOSITORY).parts
        )
        if not file.exists() or (repository_heading and anchor not in anchors_of(file)):
            broken.append(target)
    assert broken == []


def test_the_readme_links_only_within_the_repository_or_to_other_projects():
    readme = links(REPOSITORY / "README.md")
    assert len(readme) >= 20
    relative = [target for target in readme if not re.match(r"[a-z]+:", target)]
    assert len(relative) >= 18

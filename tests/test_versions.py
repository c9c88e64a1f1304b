"""One version number everywhere it appears: the package, the changelog, the config options, the emulator's pin."""

from __future__ import annotations

import re

import tomllib
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from airflow_ml_provider import __version__
from airflow_ml_provider.get_provider_info import get_provider_info
from tests.conftest import REPOSITORY

CHANGELOG = (REPOSITORY / "CHANGELOG.md").read_text()
RELEASE = re.compile(r"^## (?P<version>\d+\.\d+\.\d+) - (?P<date>\d{4}-\d{2}-\d{2}|Unreleased)$", re.M)


def test_the_changelog_opens_with_the_packages_version_and_lists_each_release_once():
    releases = [match["version"] for match in RELEASE.finditer(CHANGELOG)]
    headings = re.findall(r"^## (.*)$", CHANGELOG, re.M)
    assert len(releases) == len(headings), f"a release heading is not '## X.Y.Z - YYYY-MM-DD': {headings}"
    assert releases[0] == __version__
    assert releases == sorted(set(releases), key=Version, reverse=True)
    # Only the newest may be unreleased; every earlier one has its date.
    assert [match["date"] for match in RELEASE.finditer(CHANGELOG)][1:].count("Unreleased") == 0


def test_no_config_option_was_added_after_this_version():
    options = [
        option for section in get_provider_info()["config"].values() for option in section["options"].values()
    ]
    assert options
    assert all(Version(option["version_added"]) <= Version(__version__) for option in options)
    assert get_provider_info()["versions"] == [__version__]


def test_the_emulator_extra_pins_the_emulator_of_this_release():
    provider = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    emulator = tomllib.loads((REPOSITORY / "emulator" / "pyproject.toml").read_text())
    (requirement,) = provider["project"]["optional-dependencies"]["emulator"]
    name, _, specifier = requirement.partition(">")
    assert name == "amazon-ml-emulator"
    pinned = SpecifierSet(">" + specifier)
    assert Version(emulator["project"]["version"]) in pinned
    assert Version(emulator["project"]["version"]).release[:2] == Version(__version__).release[:2]

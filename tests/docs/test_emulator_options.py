"""The emulator's command-line options on its documentation page are the ones ``amazon-ml-emulator --help`` lists."""

from __future__ import annotations

import re
import subprocess
import sys

from amazon_ml_emulator.__main__ import parse_args
from tests.conftest import REPOSITORY

PAGE = (REPOSITORY / "docs" / "emulator.md").read_text()
ROW = re.compile(r"^\| `(?P<option>--[a-z0-9-]+)[^`]*` \|(?P<default>[^|]*)\|", re.M)


def documented() -> dict[str, str]:
    return {match["option"]: match["default"].strip() for match in ROW.finditer(PAGE)}


def test_the_page_lists_every_option_of_the_command_and_no_other():
    shown = subprocess.run(
        [sys.executable, "-m", "amazon_ml_emulator", "--help"], capture_output=True, text=True, check=True
    ).stdout
    options = set(re.findall(r"^\s+(--[a-z0-9-]+)", shown, re.M)) - {"--help"}
    assert len(options) >= 15
    assert sorted(documented()) == sorted(options)


def test_the_documented_defaults_are_the_commands():
    defaults = vars(parse_args([]))
    literal = {
        option: default for option, default in documented().items() if re.fullmatch(r"`[^`]+`", default)
    }
    assert literal
    for option, default in literal.items():
        assert default.strip("`") == str(defaults[option.removeprefix("--").replace("-", "_")]), option

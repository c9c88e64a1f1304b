"""The documentation site as a reader sees it: built, served locally and loaded page by page in headless Chromium.

Every page must load without a console error and without fetching anything from another host, every link within the site must reach a page (and its anchor),
the API reference must show no raw Sphinx role and call a parameter *required* only where its signature has
no default, with a type beside each parameter.
"""

from __future__ import annotations

import functools
import html
import importlib
import inspect
import os
import re
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPOSITORY
from tests.docs.browser import Browser, chromium_path

RAW_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|data|attr|exc|mod|obj):`")
HEADING = re.compile(r'<h\d id="(?P<path>airflow_ml_provider\.[\w.]+)"[^>]*class="doc doc-heading')
ROW = re.compile(r'<tr class="doc-section-item">(?P<row>.*?)</tr>', re.S)
CELL = re.compile(r"<td[^>]*>(?P<cell>.*?)</td>", re.S)
# What the page script returns: every anchor a link may aim at, every link, and layout faults a reader sees.
PAGE_SCRIPT = """(() => ({
  ids: [...document.querySelectorAll('[id]')].map(e => e.id)
       .concat([...document.querySelectorAll('a[name]')].map(e => e.name)),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  overflowing: [...document.querySelectorAll('.md-sidebar__scrollwrap, .md-nav__link, .md-nav__link .md-ellipsis')]
       .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
       .map(e => (e.textContent || e.className).trim().slice(0, 80)),
  tab_rows: new Set([...document.querySelectorAll('.md-tabs__item')].map(e => e.offsetTop)).size,
  fetched: performance.getEntriesByType('resource').map(e => e.name),
}))()"""


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built as ``make docs`` builds it (strict), into a folder of this test's own."""
    root = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(root)],
        cwd=REPOSITORY,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return root


@pytest.fixture(scope="module")
def pages(site: Path) -> Path:
    """The folder of the built version's pages."""
    (versioned,) = (path for path in site.iterdir() if path.is_dir())
    return versioned


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The site served over HTTP on a free local port, as a reader's browser fetches it."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def _object_at(path: str) -> Any:
    """The provider's object a heading of the API page names."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            found = getattr(found, name)
        return found
    raise LookupError(path)


def _signature(obj: Any) -> dict[str, inspect.Parameter]:
    """The named parameters a class (its ``__init__`` and every base's) or a function takes."""
    owners = (
        [klass.__init__ for klass in obj.__mro__ if "__init__" in vars(klass)]
        if inspect.isclass(obj)
        else [obj]
    )
    found: dict[str, inspect.Parameter] = {}
    for function in owners:
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            continue
        for parameter in parameters:
            if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                found.setdefault(parameter.name, parameter)
    return found


def test_the_api_reference_shows_no_raw_sphinx_role(pages: Path):
    api = (pages / "api" / "index.html").read_text()
    raw = sorted({api[match.start() : match.start() + 60] for match in RAW_ROLE.finditer(_text(api))})
    assert raw == []
    # The roles became links to the objects they name.
    assert 'href="#airflow_ml_provider.operators.base.MachineLearningCreateOperator"' in api


def test_the_api_reference_gives_each_parameter_its_type_and_true_default(pages: Path):
    api = (pages / "api" / "index.html").read_text()
    headings = list(HEADING.finditer(api))
    wrong, checked = [], 0
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        section = api[heading.end() : following.start() if following else len(api)]
        signature = _signature(_object_at(heading["path"]))
        for row in ROW.finditer(section):
            cells = [_text(cell["cell"]) for cell in CELL.finditer(row["row"])]
            if len(cells) != 4:  # name, type, description, default: the Parameters table
                continue
            name, annotation, _, default = cells
            parameter = signature.get(name)
            checked += 1
            if parameter is None:
                wrong.append(f"{heading['path']}: {name} is in no signature")
                continue
            required = parameter.default is inspect.Parameter.empty
            if not annotation:
                wrong.append(f"{heading['path']}: {name} has no type")
            if (default == "required") != required:
                wrong.append(
                    f"{heading['path']}: {name} shown {default!r}, signature default {parameter.default!r}"
                )
    assert checked > 100
    assert wrong == []


def _local_target(url: str, base: str, site: Path) -> tuple[Path, str] | None:
    """The file a link within the site names and its anchor; None for a link that leaves the site."""
    if not url.startswith(base):
        return None
    parsed = urllib.parse.urlsplit(url)
    path = site / urllib.parse.unquote(parsed.path).lstrip("/")
    if path.is_dir() or parsed.path.endswith("/"):
        path = path / "index.html"
    return path, parsed.fragment


def test_every_page_loads_in_a_browser_with_no_error_broken_link_or_missing_anchor(
    site: Path, pages: Path, served: str
):
    if chromium_path() is None:
        # CI installs it (make test runs scripts/install-system-deps.sh first): there its absence is a failure.
        if os.environ.get("CI"):
            pytest.fail("chromium: not installed; bash scripts/install-system-deps.sh installs it")
        pytest.skip("chromium: bash scripts/install-system-deps.sh installs it")
    # 404.html is a host's answer to a wrong address, laid out for the root; a reader never opens it by its name.
    files = sorted(path for path in pages.rglob("*.html") if path.name != "404.html")
    anchors: dict[Path, set[str]] = {}
    links: dict[Path, list[str]] = {}
    problems: list[str] = []
    screenshots = os.environ.get("DOCS_SCREENSHOTS")
    with Browser(window=(1280, 900)) as browser:
        # The site's root sends the reader to the newest version.
        landing = browser.visit(served, "location.href", settle=0.5)
        assert landing.result.rstrip("/").endswith(pages.name), landing.result
        for file in files:
            url = served + file.relative_to(site).as_posix().removesuffix("index.html")
            visit = browser.visit(url, PAGE_SCRIPT)
            page = file.relative_to(pages).as_posix()
            problems.extend(f"{page}: console: {error}" for error in visit.errors)
            problems.extend(
                f"{page}: overflows its sidebar: {text!r}" for text in visit.result["overflowing"]
            )
            if visit.result["tab_rows"] > 1:
                problems.append(f"{page}: the header's tabs wrap into {visit.result['tab_rows']} rows")
            # Everything a page needs (styles, scripts, fonts, highlighting) comes with the site: it reads offline.
            problems.extend(
                f"{page}: fetched from elsewhere: {url}"
                for url in visit.result["fetched"]
                if not url.startswith(served)
            )
            anchors[file] = set(visit.result["ids"])
            links[file] = visit.result["links"]
            if screenshots and page in ("index.html", "api/index.html", "connection-and-iam/index.html"):
                browser.screenshot(
                    Path(screenshots) / (page.replace("/", "-").removesuffix(".html") + ".png")
                )
    for file, urls in links.items():
        page = file.relative_to(pages).as_posix()
        for url in urls:
            target = _local_target(url, served, site)
            if target is None:
                continue
            path, fragment = target
            if not path.exists():
                problems.append(f"{page}: broken link {url}")
            elif fragment and path.suffix == ".html" and fragment not in anchors.get(path, set()):
                problems.append(f"{page}: missing anchor {url}")
    assert len(files) >= 20
    assert problems == []

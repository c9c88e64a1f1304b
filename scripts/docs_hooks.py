"""MkDocs hooks of the documentation site: one folder per version with the selector's list, and the IAM policies.

The site is laid out as versioned documentation sites are served: ``build/site/<version>/`` holds the pages,
``build/site/versions.json`` lists the versions for the theme's selector and ``build/site/index.html`` sends a
reader to the newest. Pages that say ``<!-- iam-policies -->`` or ``<!-- iam-bucket-policy -->`` get the policies built from the provider's own
declarations of the actions it calls (``airflow_ml_provider.iam``), so the docs cannot drift from the code.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (REPOSITORY / "airflow_ml_provider/__init__.py").read_text(), re.M
)
IAM_MARKERS = re.compile(r"^<!-- (?P<name>iam-policies|iam-bucket-policy) -->$", re.M)


def version() -> str:
    """The provider's version, read from its source without importing it."""
    assert VERSION is not None, "airflow_ml_provider/__init__.py sets no __version__"
    return VERSION[1]


def on_config(config: Any) -> Any:
    root = Path(config["site_dir"])
    config["site_dir"] = str(root / version())
    config["extra"]["site_root"] = str(root)
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if not IAM_MARKERS.search(markdown):
        return markdown
    if str(REPOSITORY) not in sys.path:
        sys.path.insert(0, str(REPOSITORY))
    from airflow_ml_provider import iam

    generated = {"iam-policies": iam.policies_markdown, "iam-bucket-policy": iam.bucket_policy_markdown}
    return IAM_MARKERS.sub(lambda match: generated[match["name"]](), markdown)


def on_post_build(config: Any) -> None:
    root = Path(config["extra"]["site_root"])
    current = version()
    (root / "versions.json").write_text(
        json.dumps([{"version": current, "title": current, "aliases": ["latest"]}], indent=2) + "\n"
    )
    (root / "index.html").write_text(
        f'<!doctype html><meta charset="utf-8"><title>Redirecting</title>'
        f'<meta http-equiv="refresh" content="0; url={current}/">'
        f'<a href="{current}/">airflow-ml-provider {current}</a>\n'
    )

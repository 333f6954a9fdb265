"""Every asset a studio page loads comes from the installed package: nothing names a
CDN or another host, and each file a page names is there to serve."""

from __future__ import annotations

import re
from pathlib import Path

import mlkube.studio

PACKAGE = Path(mlkube.studio.__file__).resolve().parent


def test_pages_name_only_files_the_package_serves() -> None:
    named = set()
    for template in (PACKAGE / "templates").glob("*.html"):
        text = template.read_text()
        named.update(re.findall(r'(?:src|href)="/static/([^"]+)"', text))
        assert not re.search(r'(?:src|href)="(?:https?:)?//', text), template.name
    assert "vendor/uplot/uPlot.iife.min.js" in named and "studio.css" in named
    for path in named:
        assert (PACKAGE / "static" / path).is_file(), path


def test_scripts_and_styles_fetch_nothing_from_elsewhere() -> None:
    for asset in [*(PACKAGE / "static").rglob("*.js"), *(PACKAGE / "static").rglob("*.css")]:
        if "vendor" in asset.parts:
            continue
        assert not re.search(r"https?://", asset.read_text()), asset.name

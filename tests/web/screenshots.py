"""Screenshots of console pages for docs/screenshots/, taken in the SQLite run only (one set, not one per database)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


def shoot(page: Page, name: str, enabled: bool) -> None:
    if enabled:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)

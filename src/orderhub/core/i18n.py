"""Languages of the console: message catalogs read from .po files, and locale-aware formatting.

Message ids are English; zh-CN is the default language. Catalogs are parsed from their `.po`
source when the process starts, so there is no compile step to forget.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from gettext import NullTranslations
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from orderhub.core.money import fen_to_yuan

DEFAULT_LANGUAGE = "zh-CN"
LANGUAGES = ("zh-CN", "en")
LANGUAGE_COOKIE = "orderhub_lang"
# Catalog folder names (gettext convention) and Babel locale names of each language.
_CATALOG_LOCALES = {"zh-CN": "zh_CN"}
_BABEL_LOCALES = {"zh-CN": "zh_Hans_CN", "en": "en"}


def parse_language(value: str | None) -> str | None:
    """The supported language `value` names (case-insensitive, `_` or `-`), else None."""
    if not value:
        return None
    wanted = value.strip().replace("_", "-").lower()
    return next((lang for lang in LANGUAGES if lang.lower() == wanted), None)


def load_translations(locale_dir: Path, domain: str = "messages") -> dict[str, NullTranslations]:
    """One translations object per language; English shows the message ids themselves."""
    loaded: dict[str, NullTranslations] = {"en": NullTranslations()}
    for language, folder in _CATALOG_LOCALES.items():
        with (locale_dir / folder / "LC_MESSAGES" / f"{domain}.po").open("rb") as source:
            catalog = read_po(source, locale=folder, domain=domain)
        # gettext reads only the binary layout; write it to memory (fuzzy entries are left out).
        binary = BytesIO()
        write_mo(binary, catalog)
        binary.seek(0)
        loaded[language] = Translations(binary, domain=domain)
    return loaded


def format_datetime(value: datetime | None, language: str, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """A moment in the business timezone, as back-office staff read it: 2026-11-20 10:00."""
    if value is None:
        return ""
    pattern = "yyyy-MM-dd HH:mm:ss" if seconds else "yyyy-MM-dd HH:mm"
    return babel_format_datetime(value, pattern, tzinfo=zone, locale=_BABEL_LOCALES[language])


def format_money(fen: int) -> str:
    """Integer fen as yuan with the ¥ sign and thousands separators: 123456 → ¥1,234.56."""
    amount = Decimal(fen_to_yuan(abs(fen)))
    return f"{'-' if fen < 0 else ''}¥{amount:,.2f}"


def humanise(value: str) -> str:
    """An enum value as English words: pending_payment → Pending payment."""
    return value.replace("_", " ").capitalize()

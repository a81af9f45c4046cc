"""The matching passes after the exact one, over plain records: what SQL left unmatched.

The exact pass (a reference equal to an order number, payment number or platform order id) runs
as set-based SQL in `engine.py`. What it leaves is usually a few per cent, and these passes look at
it in Python:

1. **Amount and time.** A payment with no usable reference is tied to an unmatched order of the
   same amount paid within `time_window_minutes`, closest pairs first; an order is used once, and
   a payment with two equally close orders is left alone.
2. **Fuzzy.** A reference with a typo, a prefix or a truncation (`T200P…`, a bank 附言 with the
   number mistyped), or the payer's name, compared with rapidfuzz against the unmatched orders
   within `fuzzy_window_days`. Candidates are blocked (same amount, or sharing the first or last
   six characters of the normalised reference) so the pass stays linear; the best candidate wins
   only with a score of at least `fuzzy_min_score` and no other candidate as good.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import fuzz

from orderhub.finance.model import LineKind, Method
from orderhub.finance.rules import Matching

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
# Prefixes providers and platforms put before the merchant's number (Taobao settlements in Alipay).
_KNOWN_PREFIXES = ("T200P", "T100P")
BLOCK = 6


@dataclass(frozen=True)
class OpenLine:
    line_id: int
    kind: LineKind
    amount_fen: int
    occurred_at: datetime
    reference: str = ""
    channel: str = ""
    counterparty: str = ""
    memo: str = ""


@dataclass(frozen=True)
class OpenOrder:
    order_id: int
    order_no: str
    channel: str
    channel_order_id: str
    paid_fen: int
    paid_at: datetime
    payment_ref: str = ""
    customer_name: str = ""

    def refs(self) -> list[str]:
        return [ref for ref in (self.order_no, self.payment_ref, self.channel_order_id) if ref]


@dataclass(frozen=True)
class Match:
    line_id: int
    order_id: int
    method: Method
    explanation: dict[str, Any]


def normalise(reference: str) -> str:
    """Upper case letters and digits only, known provider prefixes removed: `t200p 1234-5` → `12345`."""
    text = _NOT_ALNUM.sub("", reference).upper()
    for prefix in _KNOWN_PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix) + BLOCK:
            return text[len(prefix):]
    return text


def _fits_channel(line: OpenLine, order: OpenOrder) -> bool:
    return not line.channel or line.channel == order.channel


def match_leftovers(lines: Sequence[OpenLine], orders: Sequence[OpenOrder], rules: Matching) -> list[Match]:
    """Amount-and-time, then fuzzy matches among lines and orders the exact pass left; each used once."""
    payments = [line for line in lines if line.kind is LineKind.PAYMENT and line.amount_fen > 0]
    by_time = match_by_amount_and_time(payments, orders, timedelta(minutes=rules.time_window_minutes))
    used_lines = {match.line_id for match in by_time}
    used_orders = {match.order_id for match in by_time}
    fuzzy = match_fuzzy(
        [line for line in payments if line.line_id not in used_lines],
        [order for order in orders if order.order_id not in used_orders],
        window=timedelta(days=rules.fuzzy_window_days),
        min_score=rules.fuzzy_min_score,
    )
    return by_time + fuzzy


def match_by_amount_and_time(lines: Iterable[OpenLine], orders: Iterable[OpenOrder], window: timedelta
                             ) -> list[Match]:
    """Same amount, paid within `window`: the closest pairs first, each line and order used once."""
    by_amount: dict[int, list[OpenOrder]] = defaultdict(list)
    for order in orders:
        by_amount[order.paid_fen].append(order)
    pairs: list[tuple[float, int, int, OpenLine, OpenOrder]] = []
    for line in lines:
        for order in by_amount.get(line.amount_fen, ()):
            gap = abs((line.occurred_at - order.paid_at).total_seconds())
            if gap <= window.total_seconds() and _fits_channel(line, order):
                pairs.append((gap, line.line_id, order.order_id, line, order))
    pairs.sort(key=lambda pair: pair[:3])
    closest: dict[int, list[float]] = defaultdict(list)
    for gap, line_id, *_ in pairs:
        closest[line_id].append(gap)
    # Two orders equally close to a payment: nothing tells them apart, so a person decides.
    tied = {line_id for line_id, gaps in closest.items() if len(gaps) > 1 and gaps[0] == gaps[1]}
    taken_lines: set[int] = set(tied)
    taken_orders: set[int] = set()
    matches: list[Match] = []
    for gap, line_id, order_id, line, _order in pairs:
        if line_id in taken_lines or order_id in taken_orders:
            continue
        taken_lines.add(line_id)
        taken_orders.add(order_id)
        matches.append(Match(line_id, order_id, Method.AMOUNT_TIME,
                             {"code": "amount_time", "amount_fen": line.amount_fen, "seconds": int(gap)}))
    return matches


def _blocks(reference: str) -> list[str]:
    if len(reference) < BLOCK:
        return [reference] if reference else []
    return [f"<{reference[:BLOCK]}", f">{reference[-BLOCK:]}"]


def match_fuzzy(lines: Iterable[OpenLine], orders: Sequence[OpenOrder], *, window: timedelta, min_score: int
                ) -> list[Match]:
    """Near-identical references (or payer names, at the same amount) among the blocked candidates."""
    by_block: dict[str, list[OpenOrder]] = defaultdict(list)
    by_amount: dict[int, list[OpenOrder]] = defaultdict(list)
    normalised: dict[int, list[str]] = {}
    for order in orders:
        refs = [normalise(ref) for ref in order.refs()]
        normalised[order.order_id] = refs
        for key in {block for ref in refs for block in _blocks(ref)}:
            by_block[key].append(order)
        by_amount[order.paid_fen].append(order)
    taken: set[int] = set()
    matches: list[Match] = []
    for line in sorted(lines, key=lambda each: (each.occurred_at, each.line_id)):
        texts = [normalise(text) for text in (line.reference, *_tokens(line.memo)) if text]
        candidates = {order.order_id: order for text in texts for key in _blocks(text) for order in by_block[key]}
        candidates.update({order.order_id: order for order in by_amount.get(line.amount_fen, ())})
        scored: list[tuple[float, OpenOrder, dict[str, Any]]] = []
        for order in candidates.values():
            if order.order_id in taken or not _fits_channel(line, order):
                continue
            if abs(line.occurred_at - order.paid_at) > window:
                continue
            score, why = _score(line, texts, order, normalised[order.order_id])
            if score >= min_score:
                scored.append((score, order, why))
        if not scored:
            continue
        scored.sort(key=lambda item: (-item[0], item[1].order_id))
        if len(scored) > 1 and scored[1][0] == scored[0][0]:
            continue  # two orders fit equally well: a person decides
        score, order, why = scored[0]
        taken.add(order.order_id)
        matches.append(Match(line.line_id, order.order_id, Method.FUZZY, {**why, "score": round(score)}))
    return matches


def _tokens(memo: str) -> list[str]:
    """Number-like words of a free-text memo (附言 "货款 DX2024111100l 张三")."""
    return [word for word in re.split(r"[\s/,，;；:：]+", memo) if sum(char.isdigit() for char in word) >= BLOCK]


def _score(line: OpenLine, texts: list[str], order: OpenOrder, refs: list[str]) -> tuple[float, dict[str, Any]]:
    best, why = 0.0, {}
    for text in texts:
        for ref, original in zip(refs, order.refs(), strict=True):
            score = fuzz.ratio(text, ref)
            if score > best:
                best, why = score, {"code": "fuzzy_reference", "ref": text, "order_ref": original}
    if line.counterparty and order.customer_name and line.amount_fen == order.paid_fen:
        score = fuzz.ratio(line.counterparty, order.customer_name)
        if score > best:
            best, why = score, {"code": "fuzzy_name", "name": line.counterparty, "customer": order.customer_name}
    return best, why

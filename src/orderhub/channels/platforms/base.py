"""The adapter contract every sales platform's client and push parser fulfils, and the plumbing they share.

A client pulls raw order objects exactly as the platform's API returns them (the mapping files turn
them into drafts), writes shipments and stock back, and reports every failure as a `PlatformError`
that says honestly whether retrying can help. Clients never retry themselves: the caller does, with
tenacity, and owns the back-off. JSON is parsed with every non-integer number as `Decimal`, so no
amount and no id above 2^53 ever passes through float.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo

import httpx

from orderhub.channels.mapping import load_json

BEIJING = ZoneInfo("Asia/Shanghai")
BEIJING_FORMAT = "%Y-%m-%d %H:%M:%S"
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class ShopCredentials:
    app_key: str
    app_secret: str
    access_token: str
    base_url: str  # e.g. "http://127.0.0.1:9100/taobao" (the simulator) or the real gateway


@dataclass(frozen=True)
class OrderPage:
    orders: list[dict[str, Any]]  # raw order objects exactly as the platform's API returns them
    next_page: str | None  # opaque token for the next page (valid with the same window), None at the end


@dataclass(frozen=True)
class PushItem:
    channel_order_id: str
    order: dict[str, Any] | None  # the full raw order when the push carries it, else None: fetch it
    message_id: str  # the platform's delivery id (dedup key)
    modified_at: datetime | None  # UTC-aware, when the push says


class PlatformError(Exception):
    """A call the platform refused or did not answer. `retryable` says whether trying again can help."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.status = status


class RateLimited(PlatformError):
    def __init__(self, code: str, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(code, message, retryable=True, status=status)
        self.retry_after = retry_after


class CredentialsRejected(PlatformError):
    """Bad app key, secret or token (e.g. after a key rotation): a person must fix the shop's credentials."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(code, message, retryable=False, status=status)


class InvalidSignature(Exception):
    """A push whose signature does not verify (or that is not addressed to this shop)."""


class MalformedPush(ValueError):
    """A push whose signature verifies but whose content cannot be read: keep it as a dead letter."""


class PlatformClient(Protocol):
    channel: str

    def list_modified(self, start: datetime, end: datetime, page: str | None = None) -> OrderPage: ...

    def fetch_order(self, channel_order_id: str) -> dict[str, Any]: ...

    def ship(self, *, channel_order_id: str, carrier_code: str, waybill_no: str, idempotency_key: str) -> None: ...

    def update_stock(self, *, platform_sku: str, quantity: int, idempotency_key: str) -> None: ...


PushParser = Callable[[ShopCredentials, Mapping[str, str], bytes, datetime], list[PushItem]]


def client_for(
    channel: str, credentials: ShopCredentials, http: httpx.Client, *, page_size: int | None = None
) -> PlatformClient:
    """The client of `channel`; `page_size` overrides the platform's default page size (tests, bulk pulls)."""
    # Imported here: every platform module imports this one.
    from orderhub.channels.platforms import CLIENTS

    try:
        client_class = CLIENTS[channel]
    except KeyError:
        raise ValueError(f"no platform client for channel {channel!r}") from None
    client: PlatformClient = client_class(channel, credentials, http, page_size=page_size)
    return client


def parse_push(
    channel: str, credentials: ShopCredentials, headers: Mapping[str, str], body: bytes, now: datetime
) -> list[PushItem]:
    """Verify a push with the shop's credentials and list what it announces.

    Raises `InvalidSignature` when it does not verify, `MalformedPush` when it verifies but cannot be read.
    """
    from orderhub.channels.platforms import PUSH_PARSERS

    try:
        parser = PUSH_PARSERS[channel]
    except KeyError:
        raise ValueError(f"no push parser for channel {channel!r}") from None
    try:
        return parser(credentials, headers, body, now)
    except MalformedPush:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedPush(f"{channel} push: {exc!r}") from exc


# --- Shared plumbing -----------------------------------------------------------------------------


class HttpClientBase:
    """Credentials, the caller's `httpx.Client` and the page size: what every platform client holds."""

    default_page_size: ClassVar[int] = 100

    def __init__(self, channel: str, credentials: ShopCredentials, http: httpx.Client, *,
                 page_size: int | None = None) -> None:
        self.channel = channel
        self.credentials = credentials
        self.http = http
        self.page_size = page_size or self.default_page_size

    def url(self, path: str) -> str:
        return self.credentials.base_url.rstrip("/") + path


def send(http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One HTTP exchange; timeouts, network errors, HTTP 429 and 5xx become retryable `PlatformError`s."""
    try:
        response = http.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise PlatformError("timeout", f"no answer in time from {url}: {exc}", retryable=True) from exc
    except httpx.TransportError as exc:
        raise PlatformError("network", f"{url}: {exc}", retryable=True) from exc
    if response.status_code == 429:
        raise RateLimited("http_429", response.text[:200] or "too many requests",
                          retry_after=retry_after_seconds(response.headers.get("Retry-After")), status=429)
    if response.status_code >= 500:
        raise PlatformError(f"http_{response.status_code}", response.text[:200] or "server error",
                            retryable=True, status=response.status_code)
    return response


def retry_after_seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def read_json(response: httpx.Response) -> Any:
    """The body as JSON with decimals as `Decimal`; a garbled body is a retryable platform failure."""
    try:
        return load_json(response.text)
    except ValueError as exc:
        raise PlatformError("bad_response", f"HTTP {response.status_code}: not JSON: {response.text[:120]!r}",
                            retryable=True, status=response.status_code) from exc


def load_push_json(body: bytes | str) -> Any:
    """A (verified) push body as JSON, decimals as `Decimal`."""
    try:
        return load_json(body)
    except ValueError as exc:
        raise MalformedPush(f"push body is not JSON: {exc}") from exc


def relayed_messages(credentials: ShopCredentials, headers: Mapping[str, str], body: bytes) -> list[Any]:
    """The messages of a relayed notice push (Taobao TMC, JD, PDD, Kuaishou), once its signature verifies."""
    # Imported here: signing is pure, but platform modules import this one first.
    from orderhub.channels import signing

    if header(headers, "X-Notice-App-Key") != credentials.app_key:
        raise InvalidSignature("push not addressed to this app key")
    if not signing.verify_notice(credentials.app_secret, body, header(headers, "X-Notice-Sign")):
        raise InvalidSignature("X-Notice-Sign does not match")
    payload = load_push_json(body)
    return payload if isinstance(payload, list) else [payload]


def header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup over any mapping (a plain dict or Starlette's headers)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return ""


def from_epoch_ms(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)


def require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass UTC-aware times")
    return value.astimezone(UTC)


def beijing_text(value: datetime) -> str:
    """`yyyy-MM-dd HH:mm:ss` in Beijing time: what TOP, JD and PDD expect and send."""
    return require_utc(value).astimezone(BEIJING).strftime(BEIJING_FORMAT)


def from_beijing_text(text: str) -> datetime:
    return datetime.strptime(text, BEIJING_FORMAT).replace(tzinfo=BEIJING).astimezone(UTC)


def windows(start: datetime, end: datetime, longest: timedelta) -> list[tuple[datetime, datetime]]:
    """`[start, end)` cut into consecutive windows no longer than the platform allows."""
    start, end = require_utc(start), require_utc(end)
    cuts: list[tuple[datetime, datetime]] = []
    while start < end:
        cuts.append((start, min(start + longest, end)))
        start = cuts[-1][1]
    return cuts


def page_token(window_index: int, position: str | int) -> str:
    return f"{window_index}:{position}"


def read_page_token(token: str | None) -> tuple[int, str]:
    """`(window index, position)`; no token is the first page of the first window."""
    if not token:
        return 0, ""
    index, _, position = token.partition(":")
    if not index.isdigit():
        raise ValueError(f"not a page token of this client: {token!r}")
    return int(index), position


def carrier_for(table: Mapping[str, Any], carrier_code: str, channel: str) -> Any:
    """The platform's own code for one of OrderHub's carrier codes (kuaidi100's, e.g. `shunfeng`)."""
    try:
        return table[carrier_code]
    except KeyError:
        raise PlatformError("carrier.unknown", f"{channel} has no carrier code for {carrier_code!r}",
                            retryable=False) from None


def order_id_text(value: Any) -> str:
    """An order id as text, whether it arrived as a JSON string or as an (exact) integer."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"not an order id: {value!r}")
    return str(value)

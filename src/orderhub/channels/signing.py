"""Request and push signatures of every sales platform: pure functions, no I/O.

Each `*_sign` computes what the platform's SDK sends; each `verify_*` recomputes it and compares
in constant time (`hmac.compare_digest`), so the simulators and the push endpoint check a signature
exactly as the platform (or OrderHub's own mini-program backend) does. Sources, per shared/formats.md:

* TOP (Taobao/Tmall): official PHP SDK `TopClient::generateSign`; `md5` wraps the sorted `k1v1k2v2…`
  string in the secret, `hmac` (HMAC-MD5) and `hmac-sha256` key it with the secret, no wrap.
  Checked against the example of the TOP signing page (secret `helloworld`, sign `66987CB1…`).
* JD (JOS) and PDD: the TOP md5 scheme. JD signs `360buy_param_json` exactly as received.
* Douyin shop (抖店): `minibear2021/doudian` core.py — `app_secret + "app_key"… "v"… + app_secret`,
  HMAC-SHA256 keyed with the secret (lowercase hex), or plain MD5 of that string; the push's
  `event-sign` is lowercase hex MD5(app_key + raw body + app_secret).
* Shopify webhooks: base64 HMAC-SHA256 of the raw body with the app's client secret (shopify.dev).
* Kuaishou (快手电商): the open-platform SDK as ported in `crywolfx/kuaishou-merchant-open-api`
  (`generateSign`): the sorted `k=v` pairs joined by `&`, then `&signSecret=<secret>`; MD5 lowercase hex,
  or HMAC-SHA256 keyed with the sign secret and base64-encoded. Assumed, not read on an official page.
* The mini-program is OrderHub's own contract (docs/channels/miniprogram.md): hex HMAC-SHA256 of
  `f"{timestamp}.{payload}"`, timestamp in unix seconds, accepted for 5 minutes either way.
* Message relays (Taobao TMC, JD JMQ, PDD 多多云, Kuaishou 消息推送) are WebSocket or encrypted channels
  on the real platforms. OrderHub models each as a signed HTTP POST: `UPPER(HEX(MD5(secret + raw body +
  secret)))` in `X-Notice-Sign`. That envelope is ours, not the platforms'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

MINIPROGRAM_REPLAY_WINDOW = timedelta(minutes=5)


class UnknownSignMethod(ValueError):
    pass


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time comparison; a non-ASCII or empty `given` simply does not match."""
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def _concatenated(params: Mapping[str, str]) -> str:
    """`k1v1k2v2…` sorted by key (ASCII), without `sign`; empty values are left out, as the Java SDKs do."""
    return "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")


def _md5_upper(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()  # noqa: S324 - the platforms' signature, not ours


# --- TOP (Taobao / Tmall) ------------------------------------------------------------------------


def top_sign(params: Mapping[str, str], secret: str, sign_method: str = "md5") -> str:
    text = _concatenated(params)
    if sign_method == "md5":
        return _md5_upper(secret + text + secret)
    if sign_method == "hmac":
        return hmac.new(secret.encode(), text.encode(), hashlib.md5).hexdigest().upper()
    if sign_method == "hmac-sha256":
        return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    raise UnknownSignMethod(f"TOP sign_method {sign_method!r}")


def verify_top(params: Mapping[str, str], secret: str) -> bool:
    """Check `params["sign"]` with the `sign_method` the request names (md5 when absent)."""
    try:
        expected = top_sign(params, secret, params.get("sign_method", "md5"))
    except UnknownSignMethod:
        return False
    return signatures_match(expected, params.get("sign", ""))


# --- JD (JOS) and PDD ----------------------------------------------------------------------------


def jd_sign(params: Mapping[str, str], secret: str) -> str:
    """`360buy_param_json` is signed as the string it is (JD's SDK sends it unsorted, with spaces)."""
    return _md5_upper(secret + _concatenated(params) + secret)


def verify_jd(params: Mapping[str, str], secret: str) -> bool:
    return signatures_match(jd_sign(params, secret), params.get("sign", ""))


def pdd_sign(params: Mapping[str, str], secret: str) -> str:
    return _md5_upper(secret + _concatenated(params) + secret)


def verify_pdd(params: Mapping[str, str], secret: str) -> bool:
    return signatures_match(pdd_sign(params, secret), params.get("sign", ""))


# --- Douyin shop (抖店) --------------------------------------------------------------------------


def douyin_param_json(params: Mapping[str, Any]) -> str:
    """Business parameters as the SDK signs them: keys sorted, no spaces, non-ASCII kept."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def douyin_sign(
    *, app_key: str, app_secret: str, method: str, param_json: str, timestamp: str, v: str = "2",
    sign_method: str = "hmac-sha256",
) -> str:
    text = f"{app_secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{v}{app_secret}"
    if sign_method == "hmac-sha256":
        return hmac.new(app_secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    if sign_method == "md5":
        return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the platform's signature
    raise UnknownSignMethod(f"Douyin sign_method {sign_method!r}")


def verify_douyin(
    *, app_key: str, app_secret: str, method: str, param_json: str, timestamp: str, v: str, sign_method: str,
    sign: str,
) -> bool:
    try:
        expected = douyin_sign(app_key=app_key, app_secret=app_secret, method=method, param_json=param_json,
                               timestamp=timestamp, v=v, sign_method=sign_method)
    except UnknownSignMethod:
        return False
    return signatures_match(expected, sign)


def douyin_event_sign(app_key: str, body: bytes, app_secret: str) -> str:
    return hashlib.md5(app_key.encode() + body + app_secret.encode()).hexdigest()  # noqa: S324


def verify_douyin_event(app_key: str, body: bytes, app_secret: str, event_sign: str) -> bool:
    return signatures_match(douyin_event_sign(app_key, body, app_secret), event_sign)


# --- Shopify -------------------------------------------------------------------------------------


def shopify_webhook_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_shopify_webhook(secret: str, body: bytes, given: str) -> bool:
    return signatures_match(shopify_webhook_hmac(secret, body), given)


# --- Kuaishou (快手电商) -------------------------------------------------------------------------


def kuaishou_sign(params: Mapping[str, str], sign_secret: str, sign_method: str = "MD5") -> str:
    pairs = "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "sign")
    text = f"{pairs}&signSecret={sign_secret}"
    if sign_method == "MD5":
        return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the platform's signature
    if sign_method == "HMAC_SHA256":
        return base64.b64encode(hmac.new(sign_secret.encode(), text.encode(), hashlib.sha256).digest()).decode()
    raise UnknownSignMethod(f"Kuaishou signMethod {sign_method!r}")


def verify_kuaishou(params: Mapping[str, str], sign_secret: str) -> bool:
    try:
        expected = kuaishou_sign(params, sign_secret, params.get("signMethod", "MD5"))
    except UnknownSignMethod:
        return False
    return signatures_match(expected, params.get("sign", ""))


# --- OrderHub mini-program -----------------------------------------------------------------------


def miniprogram_signature(secret: str, timestamp: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256).hexdigest()


def miniprogram_request_payload(method: str, target: str, body: bytes) -> bytes:
    """What an API request signs: its method, path with query, and body (a push signs the body alone)."""
    return f"{method.upper()} {target}\n".encode() + body


def verify_miniprogram(secret: str, timestamp: str, signature: str, payload: bytes, now: datetime) -> bool:
    """Valid only within the replay window around `now`: an old captured request is refused."""
    if not timestamp.isdigit():
        return False
    if abs(now.timestamp() - int(timestamp)) > MINIPROGRAM_REPLAY_WINDOW.total_seconds():
        return False
    return signatures_match(miniprogram_signature(secret, timestamp, payload), signature)


# --- Message relays (modelled as signed HTTP posts) ----------------------------------------------


def notice_sign(secret: str, body: bytes) -> str:
    return hashlib.md5(secret.encode() + body + secret.encode()).hexdigest().upper()  # noqa: S324


def verify_notice(secret: str, body: bytes, given: str) -> bool:
    return signatures_match(notice_sign(secret, body), given)

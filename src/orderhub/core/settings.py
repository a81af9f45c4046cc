"""Settings read from the environment (prefix ORDERHUB_) and validated at start-up."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERHUB_", extra="ignore")

    database_url: str = "sqlite:///orderhub.db"
    timezone: str = "Asia/Shanghai"
    rules_file: Path | None = None
    # Routing tables (warehouses' carriers, ETAs, rates, carrier rules); None: fulfillment/routing/default.yaml.
    routing_file: Path | None = None
    # Finance rules (matching windows, fee rates, discrepancy owners); None: finance/rules/default.yaml.
    finance_rules_file: Path | None = None
    # A platform settlement batch whose payout differs from what its orders should bring by more than
    # this share is flagged (0.005 = ±0.5 %).
    settlement_tolerance: Decimal = Field(default=Decimal("0.005"), ge=0, le=1)
    # An unpaid order holds its stock this long; then the worker gives it back to sale.
    reservation_ttl_minutes: int = Field(default=15, ge=1, le=7 * 24 * 60)
    # Orders paying more than this (fen) need an ops supervisor's approval before `approved`.
    approval_threshold_fen: int = Field(default=500_000, ge=0)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Secure cookies need HTTPS; the demo serves plain HTTP on 127.0.0.1.
    secure_cookies: bool = False
    max_body_bytes: int = 1024 * 1024
    # Key for secrets at rest (Fernet, urlsafe base64); without it a key file is created beside the data.
    secret_key: str | None = None
    secret_key_file: Path = Path("orderhub.key")
    # A shop is reported degraded when more than this share of its platform calls failed in the window.
    health_failure_threshold: float = Field(default=0.95, gt=0, le=1)
    health_window_minutes: int = Field(default=5, ge=1)
    # Kuaidi100 (快递100): the salt sent when subscribing signs its pushes (none: pushes are unsigned);
    # key and customer sign real-time queries of the polling fallback, sent to the query URL.
    kuaidi100_salt: str | None = None
    kuaidi100_key: str = ""
    kuaidi100_customer: str = ""
    kuaidi100_query_url: str = "https://poll.kuaidi100.com/poll/query.do"
    # Kuaidi100 e-waybills (电子面单, `label/order`): key and secret sign each request; the partner id
    # (and key, for carriers that want one) is the merchant's e-waybill account with the carrier's outlet;
    # the sender mobile is printed on every label with the shipping warehouse's name and address.
    ewaybill_url: str = "https://api.kuaidi100.com/label/order"
    ewaybill_key: str = ""
    ewaybill_secret: str = ""
    ewaybill_partner_id: str = ""
    ewaybill_partner_key: str = ""
    ewaybill_sender_mobile: str = ""
    # Package photos of the warehouse portal: where the disk store keeps them, the largest accepted, and
    # whether an outsourced (3pl) warehouse's parcel may be ship-scanned only once it has one.
    photo_dir: Path = Path("photos")
    photo_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    photo_required: bool = True
    # Whether a package photo must show its order number: a barcode or QR code in it carrying the number.
    photo_order_code: bool = True
    # The public lookup's abuse protection, in `limits` notation with ";" between limits: lookups per
    # client address, and wrong phones per order number before the number is locked for every client.
    lookup_client_limits: str = "20/minute;200/hour"
    lookup_failure_limits: str = "5/15minutes;20/day"
    # Where those counts live: memory:// counts per process; redis://host:6379/0 shares them between
    # every serve process (set it when running more than one).
    lookup_limits_storage: str = "memory://"
    log_json: bool = True
    log_level: str = "INFO"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("ORDERHUB_DATABASE_URL must be sqlite:///… or postgresql+psycopg://…")
        return value

    @field_validator("secret_key")
    @classmethod
    def _real_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from cryptography.fernet import Fernet

        try:
            Fernet(value.encode())
        except ValueError as exc:
            raise ValueError("ORDERHUB_SECRET_KEY must be a Fernet key (Fernet.generate_key())") from exc
        return value

    @field_validator("lookup_client_limits", "lookup_failure_limits")
    @classmethod
    def _rate_limits(cls, value: str) -> str:
        from limits import parse_many

        parse_many(value)  # ValueError names the part it cannot read
        return value

    @field_validator("lookup_limits_storage")
    @classmethod
    def _limits_storage(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://", "redis+sentinel://", "redis+cluster://")):
            raise ValueError("ORDERHUB_LOOKUP_LIMITS_STORAGE must be memory:// or redis://…")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

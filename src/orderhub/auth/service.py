"""Authentication use cases: users, API tokens, console sessions."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from orderhub.auth.errors import (
    DuplicateUser,
    InvalidCredentials,
    InvalidScope,
    OutsideScope,
    TokenNotFound,
    UnknownRole,
    UserNotFound,
    WeakPassword,
)
from orderhub.auth.model import ApiToken, ConsoleSession, User
from orderhub.auth.permissions import SCOPABLE, SCOPE_REQUIRED, Permission, Role, permissions_of
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork
from orderhub.core.ids import new_token
from orderhub.inventory import service as inventory

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    username: str
    role: Role
    permissions: frozenset[Permission]
    # The one warehouse this caller works for; None: every warehouse.
    warehouse_code: str | None = None

    def actor(self, source: str) -> Actor:
        return Actor(name=self.username, source=source, permissions=frozenset(p.value for p in self.permissions))

    def warehouse_for(self, asked: str | None) -> str | None:
        """The warehouse a request acts for: the caller's own when scoped (OutsideScope if it names another)."""
        if self.warehouse_code is None:
            return asked
        if asked is not None and asked != self.warehouse_code:
            raise OutsideScope(self.warehouse_code, asked)
        return self.warehouse_code


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


@dataclass(frozen=True)
class OpenedSession:
    secret: str
    csrf_token: str
    principal: Principal


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _principal(user: User) -> Principal:
    return Principal(user.id, user.username, Role(user.role), permissions_of(user.role), user.warehouse_code)


def _check_scope(session: Session, role: Role, warehouse: str | None) -> None:
    if warehouse is None:
        if role in SCOPE_REQUIRED:
            raise InvalidScope(f"role {role.value} needs a warehouse (--warehouse) / 角色 {role.value} 必须指定仓库",
                               details=[{"field": "warehouse", "rule": "scope.required", "message": "required"}])
        return
    if role not in SCOPABLE:
        raise InvalidScope(f"role {role.value} works for every warehouse; only {', '.join(sorted(SCOPABLE))} "
                           f"can be held to one / 角色 {role.value} 不能限定仓库",
                           details=[{"field": "warehouse", "rule": "scope.not_allowed", "message": role.value}])
    if warehouse not in {found.code for found in inventory.list_warehouses(session)}:
        raise InvalidScope(f"unknown warehouse {warehouse} / 仓库 {warehouse} 不存在",
                           details=[{"field": "warehouse", "rule": "warehouse.unknown", "message": warehouse}])


def create_user(uow: UnitOfWork, *, username: str, password: str, role: str, warehouse: str | None = None) -> User:
    try:
        parsed_role = Role(role)
    except ValueError:
        raise UnknownRole(f"unknown role {role!r}; roles: {', '.join(Role)} / 未知角色") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            f"password needs at least {MIN_PASSWORD_LENGTH} characters / 密码至少 {MIN_PASSWORD_LENGTH} 位"
        )
    with uow:
        if uow.session.scalar(select(User.id).where(User.username == username)) is not None:
            raise DuplicateUser(f"user {username} already exists / 用户 {username} 已存在")
        _check_scope(uow.session, parsed_role, warehouse)
        user = User(
            username=username, password_hash=_hasher.hash(password), role=parsed_role.value, created_at=uow.now(),
            warehouse_code=warehouse,
        )
        uow.session.add(user)
        uow.commit()
        return user


def _get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserNotFound(f"no user {username!r} / 用户 {username} 不存在")
    return user


def authenticate(session: Session, *, username: str, password: str) -> User:
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        # Spend the same time as a real check so usernames cannot be probed by timing.
        _hasher.hash(password)
        raise InvalidCredentials()
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials() from None
    return user


def create_token(uow: UnitOfWork, *, username: str, name: str) -> IssuedToken:
    with uow:
        user = _get_user(uow.session, username)
        secret = "oh_" + new_token()
        token = ApiToken(
            user_id=user.id, name=name, token_hash=_digest(secret), prefix=secret[:10], created_at=uow.now()
        )
        uow.session.add(token)
        uow.commit()
        return IssuedToken(token=token, secret=secret)


def revoke_token(uow: UnitOfWork, *, token_id: int) -> ApiToken:
    with uow:
        token = uow.session.get(ApiToken, token_id)
        if token is None:
            raise TokenNotFound(f"no token {token_id} / 令牌 {token_id} 不存在")
        if token.revoked_at is None:
            token.revoked_at = uow.now()
        uow.commit()
        return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def principal_for_token(uow: UnitOfWork, secret: str) -> Principal | None:
    with uow:
        token = uow.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
        if token is None or token.revoked_at is not None or not token.user.active:
            return None
        principal = _principal(token.user)
        return principal


def open_session(uow: UnitOfWork, *, username: str, password: str, hours: int) -> OpenedSession:
    with uow:
        user = authenticate(uow.session, username=username, password=password)
        secret, csrf = new_token(), new_token()
        now = uow.now()
        uow.session.add(
            ConsoleSession(
                session_hash=_digest(secret),
                user_id=user.id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + timedelta(hours=hours),
            )
        )
        uow.commit()
        return OpenedSession(secret=secret, csrf_token=csrf, principal=_principal(user))


def resolve_session(uow: UnitOfWork, secret: str) -> tuple[Principal, str] | None:
    """The principal and CSRF token of a live console session, or None."""
    with uow:
        row = uow.session.scalar(select(ConsoleSession).where(ConsoleSession.session_hash == _digest(secret)))
        if row is None or row.expires_at <= uow.now() or not row.user.active:
            return None
        return _principal(row.user), row.csrf_token


def close_session(uow: UnitOfWork, secret: str) -> None:
    with uow:
        row = uow.session.scalar(select(ConsoleSession).where(ConsoleSession.session_hash == _digest(secret)))
        if row is not None:
            uow.session.delete(row)
        uow.commit()


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def set_password(uow: UnitOfWork, *, username: str, password: str) -> User:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            f"password needs at least {MIN_PASSWORD_LENGTH} characters / 密码至少 {MIN_PASSWORD_LENGTH} 位"
        )
    with uow:
        user = _get_user(uow.session, username)
        user.password_hash = _hasher.hash(password)
        uow.commit()
        return user

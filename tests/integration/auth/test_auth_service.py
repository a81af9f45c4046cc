from datetime import timedelta

import pytest
from sqlalchemy import select

from orderhub.auth import service
from orderhub.auth.errors import DuplicateUser, InvalidCredentials, UnknownRole, WeakPassword
from orderhub.auth.model import ApiToken, User
from orderhub.auth.permissions import Permission, Role
from orderhub.core.clock import FixedClock
from orderhub.runtime import Runtime


def test_passwords_are_stored_as_argon2_hashes(runtime: Runtime) -> None:
    service.create_user(runtime.uow(), username="li", password="s3cret-pass", role="ops")
    with runtime.reading() as session:
        user = session.scalar(select(User).where(User.username == "li"))
        assert user is not None and user.password_hash.startswith("$argon2")
        assert "s3cret-pass" not in user.password_hash
        assert service.authenticate(session, username="li", password="s3cret-pass").id == user.id
        with pytest.raises(InvalidCredentials):
            service.authenticate(session, username="li", password="wrong-pass")
        with pytest.raises(InvalidCredentials):
            service.authenticate(session, username="nobody", password="s3cret-pass")


def test_bad_user_input_is_refused(runtime: Runtime) -> None:
    with pytest.raises(UnknownRole):
        service.create_user(runtime.uow(), username="a", password="long-enough", role="god")
    with pytest.raises(WeakPassword):
        service.create_user(runtime.uow(), username="a", password="short", role="ops")
    service.create_user(runtime.uow(), username="a", password="long-enough", role="ops")
    with pytest.raises(DuplicateUser):
        service.create_user(runtime.uow(), username="a", password="long-enough", role="ops")


def test_tokens_are_stored_hashed_and_resolve_to_their_user(runtime: Runtime) -> None:
    service.create_user(runtime.uow(), username="wh", password="warehouse-1", role="warehouse")
    issued = service.create_token(runtime.uow(), username="wh", name="pda")
    with runtime.reading() as session:
        stored = session.scalar(select(ApiToken))
        assert stored is not None and issued.secret not in stored.token_hash and stored.prefix == issued.secret[:10]
    principal = service.principal_for_token(runtime.uow(), issued.secret)
    assert principal is not None and principal.role is Role.WAREHOUSE
    assert Permission.ORDERS_TRANSITION in principal.permissions
    assert Permission.ORDERS_CREATE not in principal.permissions
    service.revoke_token(runtime.uow(), token_id=issued.token.id)
    assert service.principal_for_token(runtime.uow(), issued.secret) is None


def test_console_sessions_expire(runtime: Runtime, clock: FixedClock) -> None:
    service.create_user(runtime.uow(), username="ops", password="ops-pass-1", role="ops")
    opened = service.open_session(runtime.uow(), username="ops", password="ops-pass-1", hours=12)
    resolved = service.resolve_session(runtime.uow(), opened.secret)
    assert resolved is not None and resolved[1] == opened.csrf_token
    clock.advance(timedelta(hours=12, seconds=1))
    assert service.resolve_session(runtime.uow(), opened.secret) is None


def test_logout_ends_the_session(runtime: Runtime) -> None:
    service.create_user(runtime.uow(), username="ops", password="ops-pass-1", role="ops")
    opened = service.open_session(runtime.uow(), username="ops", password="ops-pass-1", hours=12)
    service.close_session(runtime.uow(), opened.secret)
    assert service.resolve_session(runtime.uow(), opened.secret) is None

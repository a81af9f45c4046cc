"""Typed errors of the auth domain."""

from orderhub.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated


class InvalidCredentials(Unauthenticated):
    code = "auth.invalid_credentials"

    def __init__(self) -> None:
        super().__init__("wrong username or password / 用户名或密码错误")


class UserNotFound(NotFound):
    code = "auth.user_not_found"


class DuplicateUser(Conflict):
    code = "auth.duplicate_user"


class WeakPassword(InvalidInput):
    code = "auth.weak_password"


class UnknownRole(InvalidInput):
    code = "auth.unknown_role"


class TokenNotFound(NotFound):
    code = "auth.token_not_found"


class InvalidScope(InvalidInput):
    """A role that must be held to a warehouse without one, one that cannot be with one, or an unknown warehouse."""

    code = "auth.invalid_scope"


class OutsideScope(Forbidden):
    """A user held to one warehouse asked to act for another."""

    code = "auth.outside_scope"

    def __init__(self, scope: str, asked: str) -> None:
        super().__init__(f"this account works for warehouse {scope} only, not {asked} "
                         f"/ 该账号仅限仓库 {scope}，不能操作 {asked}",
                         details=[{"warehouse": asked, "scope": scope}])

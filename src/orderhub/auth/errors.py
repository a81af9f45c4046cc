"""Typed errors of the auth domain."""

from orderhub.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated


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

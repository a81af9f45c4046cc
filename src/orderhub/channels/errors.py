"""Typed errors of the channels domain."""

from orderhub.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated


class ShopNotFound(NotFound):
    code = "shop.not_found"


class DuplicateShop(Conflict):
    code = "shop.duplicate"


class UnknownChannel(InvalidInput):
    code = "channel.unknown"


class InvalidCredentials(InvalidInput):
    code = "shop.invalid_credentials"


class DeadLetterNotFound(NotFound):
    code = "dead_letter.not_found"


class DeadLetterClosed(Conflict):
    code = "dead_letter.closed"


class PushRejected(Unauthenticated):
    code = "channel.push_signature_invalid"


class ShopNotConnected(Conflict):
    code = "shop.not_connected"


class DiscardReasonRequired(InvalidInput):
    code = "dead_letter.reason_required"

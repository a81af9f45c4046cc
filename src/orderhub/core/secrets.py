"""Secrets at rest (platform app secrets, access tokens): Fernet-encrypted with the instance key.

The key comes from ORDERHUB_SECRET_KEY, or from a key file created on first use (mode 0600) so a
one-machine install needs no set-up; production sets the variable and keeps the key out of backups.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretUnreadable(Exception):
    """A stored secret was encrypted with another key: the instance key changed or was lost."""


@cache
def _fernet(key: str | None, key_file: Path) -> Fernet:
    if key:
        return Fernet(key.encode())
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
    return Fernet(key_file.read_bytes().strip())


class SecretBox:
    def __init__(self, key: str | None, key_file: Path) -> None:
        self._fernet = _fernet(key, key_file)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode() if plaintext else ""

    def open(self, sealed: str) -> str:
        if not sealed:
            return ""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("a stored secret cannot be decrypted with this instance's key") from None

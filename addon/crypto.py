"""Encryption of secrets at rest (shared secrets, cached tokens).

ADDON_SECRET_KEY may hold several comma-separated keys to rotate: the first encrypts, every one
decrypts. Each key is stretched with HKDF into a Fernet key (AES-128-CBC with HMAC-SHA256).
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_HKDF_INFO = b"support-chat secrets at rest v1"


class SecretBoxError(RuntimeError):
    """A stored secret could not be decrypted with any configured key."""


def _fernet_for(key_text):
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        key_text.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    """Encrypts and decrypts short secrets with the keys of ADDON_SECRET_KEY."""

    def __init__(self, secret_key_setting):
        keys = [key.strip() for key in secret_key_setting.split(",") if key.strip()]
        if not keys:
            raise ValueError("ADDON_SECRET_KEY holds no key")
        self._fernet = MultiFernet([_fernet_for(key) for key in keys])

    def encrypt(self, plaintext):
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token):
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretBoxError(
                "a stored secret could not be decrypted; was ADDON_SECRET_KEY changed "
                "without keeping the old key after a comma?"
            ) from None

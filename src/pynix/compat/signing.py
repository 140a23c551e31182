"""ed25519 keys and signatures in Nix's text formats.

* secret key: ``<name>:<base64 of 64 bytes>``, the bytes being the 32-byte
  seed followed by the 32-byte public key (libsodium's layout);
* public key: ``<name>:<base64 of 32 bytes>``;
* signature: ``<name>:<base64 of 64 bytes>``; a signature is checked with the
  public key of the same name.

ed25519 is deterministic, so signing the same message twice gives the same
signature.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
SECRET_KEY_BYTES = 64
SIGNATURE_BYTES = 64


class SigningKeyError(ValueError):
    """A key or signature string that is malformed."""


def _split(text: str, what: str) -> tuple[str, bytes]:
    name, sep, encoded = text.strip().partition(":")
    if not sep or not name or not encoded:
        raise SigningKeyError(f"{what} is corrupt")
    try:
        return name, base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise SigningKeyError(f"{what} is corrupt") from None


def _message_bytes(message: str | bytes) -> bytes:
    return message.encode() if isinstance(message, str) else message


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class PublicKey:
    name: str
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != PUBLIC_KEY_BYTES:
            raise SigningKeyError("public key is not valid")

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """Parse ``<name>:<base64>`` (a ``trusted-public-keys`` entry)."""
        return cls(*_split(text, "public key"))

    def to_text(self) -> str:
        return f"{self.name}:{base64.b64encode(self.key).decode()}"

    def verify(self, message: str | bytes, signature: str) -> bool:
        """True if ``signature`` (``name:base64``) is this key's signature of ``message``."""
        try:
            name, sig = parse_signature(signature)
        except SigningKeyError:
            return False
        if name != self.name:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.key).verify(sig, _message_bytes(message))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class SecretKey:
    name: str
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != SECRET_KEY_BYTES:
            raise SigningKeyError("secret key is not valid")
        # libsodium signs with the stored public half; if it does not belong
        # to the seed, Nix would produce signatures nobody can verify.
        if _raw_public(self._private()) != self.key[SEED_BYTES:]:
            raise SigningKeyError("secret key is not valid: public half does not match the seed")

    @classmethod
    def generate(cls, name: str) -> SecretKey:
        """A new random key (``nix-store --generate-binary-cache-key``)."""
        private = Ed25519PrivateKey.generate()
        seed = private.private_bytes_raw()
        return cls(name, seed + _raw_public(private))

    @classmethod
    def parse(cls, text: str) -> SecretKey:
        """Parse ``<name>:<base64 of seed+public>`` (a secret key file)."""
        return cls(*_split(text, "secret key"))

    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.key[:SEED_BYTES])

    def to_text(self) -> str:
        return f"{self.name}:{base64.b64encode(self.key).decode()}"

    def public_key(self) -> PublicKey:
        return PublicKey(self.name, self.key[SEED_BYTES:])

    def sign(self, message: str | bytes) -> str:
        """Sign ``message`` (e.g. a narinfo fingerprint); returns ``name:base64``."""
        signature = self._private().sign(_message_bytes(message))
        return f"{self.name}:{base64.b64encode(signature).decode()}"


def parse_signature(text: str) -> tuple[str, bytes]:
    """Split ``name:base64`` into the key name and the 64 signature bytes."""
    name, sig = _split(text, "signature")
    if len(sig) != SIGNATURE_BYTES:
        raise SigningKeyError("signature is not valid")
    return name, sig


def verify_signatures(
    message: str | bytes, signatures: Iterable[str], public_keys: Iterable[PublicKey]
) -> bool:
    """True if any of ``signatures`` verifies with the trusted key of its name."""
    by_name = {key.name: key for key in public_keys}
    for signature in signatures:
        name = signature.partition(":")[0]
        key = by_name.get(name)
        if key is not None and key.verify(message, signature):
            return True
    return False

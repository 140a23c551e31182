from __future__ import annotations

import base64

import pytest

from pynix.compat.signing import (
    PublicKey,
    SecretKey,
    SigningKeyError,
    parse_signature,
    verify_signatures,
)

from .vectors import load

V = load("narinfo.json")


def test_key_files_round_trip() -> None:
    secret = SecretKey.parse(V["secretKeyFile"])
    public = PublicKey.parse(V["publicKeyFile"])
    assert secret.name == public.name == "test-cache-1"
    assert len(secret.key) == 64
    assert secret.to_text() == V["secretKeyFile"]
    assert public.to_text() == V["publicKeyFile"]
    assert secret.public_key() == public
    assert SecretKey.parse(V["secretKeyFile"] + "\n") == secret  # files may end in a newline


def test_generate_sign_verify() -> None:
    secret = SecretKey.generate("cache.example.org-1")
    public = secret.public_key()
    sig = secret.sign("1;/nix/store/x;sha256:0;1;")
    assert sig.startswith("cache.example.org-1:")
    assert len(parse_signature(sig)[1]) == 64
    assert public.verify("1;/nix/store/x;sha256:0;1;", sig)
    assert public.verify(b"1;/nix/store/x;sha256:0;1;", sig)
    assert not public.verify("1;/nix/store/y;sha256:0;1;", sig)
    assert secret.sign("m") == secret.sign("m")
    assert SecretKey.parse(secret.to_text()) == secret
    assert PublicKey.parse(public.to_text()) == public


def test_verification_picks_the_key_by_name() -> None:
    a = SecretKey.generate("a")
    b = SecretKey.generate("b")
    sig_a = a.sign("msg")
    assert not b.public_key().verify("msg", sig_a)
    renamed = PublicKey("b", a.public_key().key)
    assert not renamed.verify("msg", sig_a)  # right key bytes, wrong name
    assert verify_signatures("msg", [b.sign("other"), sig_a], [b.public_key(), a.public_key()])
    assert not verify_signatures("msg", [sig_a], [b.public_key()])
    assert not verify_signatures("msg", [], [a.public_key()])


def test_malformed_signatures_do_not_verify() -> None:
    public = SecretKey.generate("k").public_key()
    for bad in ("", "k", "k:", ":abc", "k:!!!", "k:" + base64.b64encode(bytes(63)).decode()):
        assert not public.verify("msg", bad)
    with pytest.raises(SigningKeyError):
        parse_signature("k:" + base64.b64encode(bytes(32)).decode())


@pytest.mark.parametrize(
    "text", ["", "name", "name:", ":" + base64.b64encode(bytes(64)).decode(), "n:@@@@"]
)
def test_corrupt_keys(text: str) -> None:
    with pytest.raises(SigningKeyError, match="corrupt"):
        SecretKey.parse(text)
    with pytest.raises(SigningKeyError, match="corrupt"):
        PublicKey.parse(text)


def test_wrong_key_sizes() -> None:
    with pytest.raises(SigningKeyError, match="not valid"):
        SecretKey.parse("k:" + base64.b64encode(bytes(32)).decode())
    with pytest.raises(SigningKeyError, match="not valid"):
        PublicKey.parse("k:" + base64.b64encode(bytes(64)).decode())


def test_secret_key_with_a_foreign_public_half_is_rejected() -> None:
    a = SecretKey.generate("a")
    b = SecretKey.generate("b")
    with pytest.raises(SigningKeyError, match="does not match"):
        SecretKey("a", a.key[:32] + b.key[32:])

"""FLO keys, addresses and message signatures (Bitcoin-style ``signmessage`` with FLO's magic).

FLO is a Bitcoin fork: P2PKH addresses are Base58Check(version || RIPEMD160(SHA256(pubkey))), private keys travel
as WIF, and signed messages are 65-byte compact recoverable secp256k1 signatures over
``SHA256d(varstr("Florincoin Signed Message:\\n") || varstr(message))``, shown in base64.
Verification recovers the public key from the signature and compares its address.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Literal

import coincurve

from etdb_explore.errors import SignatureError
from etdb_explore.util.base58 import b58decode, b58encode

MESSAGE_MAGIC = b"Florincoin Signed Message:\n"

Network = Literal["mainnet", "testnet"]


@dataclass(frozen=True)
class NetworkParams:
    """Version bytes of one FLO network."""

    p2pkh: int
    wif: int


NETWORKS: dict[str, NetworkParams] = {
    "mainnet": NetworkParams(p2pkh=35, wif=163),
    "testnet": NetworkParams(p2pkh=115, wif=239),
}


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def b58check_encode(payload: bytes) -> str:
    """Base58Check of ``payload`` (its first four bytes of SHA256d appended).

    Returns:
        The text.
    """
    return b58encode(payload + _checksum(payload))


def b58check_decode(text: str) -> bytes:
    """Inverse of :func:`b58check_encode`.

    Returns:
        The payload, checksum removed.

    Raises:
        Base58Error: the text is not base58 (see :func:`~etdb_explore.util.base58.b58decode`).
        SignatureError: its checksum is wrong.
    """
    raw = b58decode(text)
    if len(raw) < 5 or _checksum(raw[:-4]) != raw[-4:]:
        raise SignatureError(f"bad Base58Check checksum in {text!r}")
    return raw[:-4]


def hash160(data: bytes) -> bytes:
    """RIPEMD160(SHA256(data)), the hash in P2PKH addresses.

    Returns:
        20 bytes.
    """
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def pubkey_to_address(pubkey: bytes, network: Network = "mainnet") -> str:
    """P2PKH address of a serialized (compressed or uncompressed) public key.

    Returns:
        The Base58Check address (``F…`` on mainnet, ``o…`` on testnet).
    """
    return b58check_encode(bytes([NETWORKS[network].p2pkh]) + hash160(pubkey))


def address_network(address: str) -> Network:
    """The network of a P2PKH address.

    Returns:
        "mainnet" or "testnet".

    Raises:
        Base58Error, SignatureError: ``address`` is not Base58Check, or not a FLO P2PKH address.
    """
    raw = b58check_decode(address)
    for name, params in NETWORKS.items():
        if len(raw) == 21 and raw[0] == params.p2pkh:
            return name  # type: ignore[return-value]
    raise SignatureError(f"{address!r} is not a FLO P2PKH address")


def _varstr(data: bytes) -> bytes:
    n = len(data)
    if n < 0xFD:
        prefix = bytes([n])
    elif n <= 0xFFFF:
        prefix = b"\xfd" + n.to_bytes(2, "little")
    elif n <= 0xFFFFFFFF:
        prefix = b"\xfe" + n.to_bytes(4, "little")
    else:
        prefix = b"\xff" + n.to_bytes(8, "little")
    return prefix + data


_MAGIC_STATE = hashlib.sha256(_varstr(MESSAGE_MAGIC))  # the envelope's fixed start, hashed once


def message_hash(message: str | bytes) -> bytes:
    """Double SHA-256 of the FLO signed-message envelope of ``message`` (text is encoded as UTF-8).

    Returns:
        32 bytes: what a signature signs.
    """
    if isinstance(message, str):
        message = message.encode("utf-8")
    inner = _MAGIC_STATE.copy()
    inner.update(_varstr(message))
    return hashlib.sha256(inner.digest()).digest()


@dataclass(frozen=True)
class PrivateKey:
    """A FLO private key with its network and whether its public key is used compressed (its ``repr`` hides the
    secret)."""

    secret: bytes = field(repr=False)
    network: Network = "mainnet"
    compressed: bool = True

    @classmethod
    def generate(cls, network: Network = "mainnet") -> PrivateKey:
        """A new random key.

        Returns:
            The key, compressed.
        """
        return cls(coincurve.PrivateKey().secret, network)

    @classmethod
    def from_seed(cls, seed: str | bytes, network: Network = "mainnet") -> PrivateKey:
        """A deterministic key derived by SHA-256 of ``seed`` (for demos and tests, never for real funds).

        Returns:
            The key, compressed.
        """
        if isinstance(seed, str):
            seed = seed.encode()
        return cls(coincurve.PrivateKey(hashlib.sha256(seed).digest()).secret, network)

    @classmethod
    def from_wif(cls, wif: str) -> PrivateKey:
        """The key of a WIF text, as flod's ``dumpprivkey`` gives it.

        Returns:
            The key, with the network and compression the WIF says.

        Raises:
            Base58Error, SignatureError: not Base58Check, a version byte of neither FLO network, or a payload of
                the wrong length.
        """
        raw = b58check_decode(wif)
        version, body = raw[0], raw[1:]
        network = next((n for n, p in NETWORKS.items() if p.wif == version), None)
        if network is None:
            raise SignatureError(f"WIF version byte {version} is not a FLO mainnet or testnet key")
        if len(body) == 33 and body[-1] == 1:
            return cls(body[:32], network, True)  # type: ignore[arg-type]
        if len(body) == 32:
            return cls(body, network, False)  # type: ignore[arg-type]
        raise SignatureError("WIF payload must be 32 bytes (+0x01 when compressed)")

    def to_wif(self) -> str:
        """The key as WIF (what :meth:`from_wif` reads, flod's ``importprivkey`` takes).

        Returns:
            The WIF text.
        """
        suffix = b"\x01" if self.compressed else b""
        return b58check_encode(bytes([NETWORKS[self.network].wif]) + self.secret + suffix)

    @functools.cached_property
    def _signer(self) -> coincurve.PrivateKey:
        """The secp256k1 key, made once (making it derives the public key, the costly part of a signature)."""
        return coincurve.PrivateKey(self.secret)

    def __getstate__(self) -> dict[str, object]:
        """Pickles as its fields only (the cached secp256k1 key is made again where it lands)."""
        return {"secret": self.secret, "network": self.network, "compressed": self.compressed}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    @functools.cached_property
    def public_key(self) -> bytes:
        """The serialized secp256k1 public key (33 bytes compressed, else 65)."""
        return self._signer.public_key.format(compressed=self.compressed)

    @functools.cached_property
    def address(self) -> str:
        """The key's P2PKH address on its network."""
        return pubkey_to_address(self.public_key, self.network)

    def sign_message(self, message: str | bytes) -> str:
        """Sign ``message`` as flod's ``signmessage`` does.

        Returns:
            The base64 compact recoverable signature (65 bytes).
        """
        sig = self._signer.sign_recoverable(message_hash(message), hasher=None)
        header = 27 + sig[64] + (4 if self.compressed else 0)
        return base64.b64encode(bytes([header]) + sig[:64]).decode("ascii")


def _recover_pubkey(message: str | bytes, signature: str) -> bytes:
    """The serialized public key that made ``signature`` over ``message``; SignatureError if none recovers."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"signature is not valid base64: {signature!r}") from exc
    if len(raw) != 65 or not 27 <= raw[0] <= 34:
        raise SignatureError(f"signature is not a 65-byte compact signature: {signature!r}")
    header = raw[0]
    try:
        pub = coincurve.PublicKey.from_signature_and_message(raw[1:] + _RECIDS[(header - 27) & 3],
                                                             message_hash(message), hasher=None)
    except Exception as exc:  # coincurve raises plain Exception for unrecoverable signatures
        raise SignatureError(f"no public key recovers from signature {signature!r}") from exc
    return pub.format(compressed=header >= 31)


_RECIDS = tuple(bytes([recid]) for recid in range(4))


@functools.lru_cache(maxsize=4096)
def _address_hash160(address: str) -> bytes:
    address_network(address)
    return b58check_decode(address)[1:]


@functools.lru_cache(maxsize=4096)
def _pubkey_hash160(pubkey: bytes) -> bytes:
    """:func:`hash160` of a recovered public key, memoized (a publisher signs many records with one key)."""
    return hash160(pubkey)


def verify_message(address: str, signature: str, message: str | bytes) -> bool:
    """Whether ``signature`` over ``message`` was made by the key of ``address``.

    Returns:
        True when it was; False for anything else (a bad address or signature, of any type), never raising.
    """
    if not isinstance(address, str) or not isinstance(signature, str):
        return False
    try:
        return _pubkey_hash160(_recover_pubkey(message, signature)) == _address_hash160(address)
    except (SignatureError, ValueError):
        return False

"""The lab's FLO signing key: from an environment variable, a file only its owner can read, or the system keyring.

The WIF text is read, turned into a :class:`~etdb_explore.records.flo.PrivateKey` and dropped: it is never printed,
logged or put into an exception message (errors say where the key was looked for, never what was found), and the
key's ``repr`` shows no secret.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from etdb_explore.errors import EtdbError
from etdb_explore.records.flo import PrivateKey

DEFAULT_VARIABLE = "ETDB_FLO_WIF"
KEYRING_SERVICE = "etdb-explore"


class KeySourceError(EtdbError, ValueError):
    """The signing key is missing, unreadable, not a FLO WIF key, or kept in a file others can read."""


def _from_wif(text: str, where: str) -> PrivateKey:
    """The key of a WIF text; the error names ``where`` only (the text, and the parser's message quoting it, are
    dropped)."""
    try:
        return PrivateKey.from_wif(text.strip())
    except ValueError:  # Base58Error and SignatureError quote the text: never chain them
        pass
    raise KeySourceError(f"{where} does not hold a FLO WIF private key")


def _from_file(path: Path) -> PrivateKey:
    try:
        info = path.stat()
    except OSError as exc:
        raise KeySourceError(f"key file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeySourceError(f"key file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise KeySourceError(f"key file {path} can be read by others (mode {stat.S_IMODE(info.st_mode):04o}); "
                             f"run: chmod 600 {path}")
    return _from_wif(path.read_text(encoding="ascii", errors="replace"), f"key file {path}")


def _from_keyring(user: str) -> PrivateKey:
    try:
        import keyring
    except ImportError:
        raise KeySourceError("the keyring package is not installed: pip install keyring") from None
    secret = keyring.get_password(KEYRING_SERVICE, user)
    if not secret:
        raise KeySourceError(f"the keyring has no key for service {KEYRING_SERVICE!r}, user {user!r}")
    return _from_wif(secret, f"the keyring entry {KEYRING_SERVICE!r}/{user!r}")


def load_key(*, env: str | None = None, file: str | Path | None = None, keyring_user: str | None = None
             ) -> PrivateKey:
    """The lab's signing key from exactly one place: the environment variable ``env``, the file ``file`` (mode 0600
    or stricter), or the keyring entry of service ``etdb-explore`` and user ``keyring_user``; with none given,
    ``$ETDB_FLO_WIF``.

    Returns:
        The key (its network and compression as its WIF says).

    Raises:
        KeySourceError: the place is empty, unreadable, holds no FLO WIF key, or the file is readable by others;
            the message names the place, never the key.
    """
    given = [x for x in (env, file, keyring_user) if x is not None]
    if len(given) > 1:
        raise KeySourceError("give one place for the key: env, file or keyring_user")
    if file is not None:
        return _from_file(Path(file))
    if keyring_user is not None:
        return _from_keyring(keyring_user)
    variable = env or DEFAULT_VARIABLE
    text = os.environ.get(variable)
    if not text:
        raise KeySourceError(f"no signing key: ${variable} is not set (or use a key file or the keyring)")
    return _from_wif(text, f"${variable}")

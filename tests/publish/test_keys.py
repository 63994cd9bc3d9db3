"""The signing key: from an environment variable, a 0600 file or the keyring; never in output, logs or errors."""

from __future__ import annotations

import logging
import os

import keyring
import keyring.backend
import pytest

from etdb_explore.publish import KeySourceError, Release, load_key
from etdb_explore.publish.keys import KEYRING_SERVICE
from etdb_explore.records.flo import PrivateKey

from .conftest import LAB_KEY

WIF = LAB_KEY.to_wif()


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend in memory (the keyring package's own backend interface)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.secrets[(service, username)]


def test_three_places(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_WIF", WIF)
    assert load_key(env="LAB_WIF").address == LAB_KEY.address
    monkeypatch.setenv("ETDB_FLO_WIF", WIF)
    assert load_key().secret == LAB_KEY.secret
    path = tmp_path / "lab.wif"
    path.write_text(WIF + "\n")
    path.chmod(0o600)
    assert load_key(file=path).address == LAB_KEY.address
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        keyring.set_password(KEYRING_SERVICE, "lab", WIF)
        assert load_key(keyring_user="lab").address == LAB_KEY.address
        with pytest.raises(KeySourceError, match="no key for service 'etdb-explore', user 'nobody'"):
            load_key(keyring_user="nobody")
    finally:
        keyring.set_keyring(previous)
    with pytest.raises(KeySourceError, match="one place"):
        load_key(env="LAB_WIF", file=path)


def test_a_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "lab.wif"
    path.write_text(WIF)
    path.chmod(0o644)
    with pytest.raises(KeySourceError, match="chmod 600") as caught:
        load_key(file=path)
    assert WIF not in str(caught.value)
    with pytest.raises(KeySourceError, match="does not exist|No such file"):
        load_key(file=tmp_path / "missing")


def test_the_key_never_shows(tmp_path, monkeypatch, capsys, caplog, lab_table):
    """Printed, logged, in an exception message (a broken WIF too), in a repr: the WIF and the secret never
    appear. (The notebook's outputs are checked in test_notebook_publish.)"""
    caplog.set_level(logging.DEBUG)
    secrets = [WIF, WIF[1:-1], LAB_KEY.secret.hex(), repr(LAB_KEY.secret)]
    broken = WIF[:-3] + ("a" if WIF[-3] != "a" else "b") + WIF[-2:]
    messages = []
    for value in (broken, WIF[:20], "not base58 0OIl " + WIF):
        monkeypatch.setenv("ETDB_FLO_WIF", value)
        with pytest.raises(KeySourceError) as caught:
            load_key()
        messages += [str(caught.value), repr(caught.value), str(caught.value.__cause__)]
        assert caught.value.__cause__ is None and caught.value.__context__ is None
        secrets += [value, value[1:-1]]
    monkeypatch.setenv("ETDB_FLO_WIF", WIF)
    key = load_key()
    print(key, repr(key), f"{key!r}")
    Release(lab_table).publish(tmp_path / "log.sqlite", key, store=None, offline=True, progress=False)
    print(Release(lab_table).dry_run(key))
    out, err = capsys.readouterr()
    text = "\n".join([out, err, caplog.text, *messages, repr(key), str(vars(key).keys())])
    assert "PrivateKey(network='testnet', compressed=True)" in out
    for secret in secrets:
        assert secret not in text
    assert os.environ["ETDB_FLO_WIF"] == WIF and PrivateKey.from_wif(WIF) == key

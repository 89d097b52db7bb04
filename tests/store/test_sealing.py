"""Sealing sensitive outputs: the key file's safety, the environment key, wrong keys, digests."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from truenorth.core import outputs
from truenorth.store import sealing

CANARY = "canary-sealed-9f3b2c"


def test_a_missing_key_file_is_created_private_and_then_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / sealing.KEY_FILENAME
    old_umask = os.umask(0o000)  # a careless umask must not make the key readable
    try:
        first = sealing.Sealer.load(key_file=key_file, environ={})
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) == 44
    token = first.seal({"password": CANARY})
    again = sealing.Sealer.load(key_file=key_file, environ={})
    assert again.unseal(token) == {"password": CANARY}
    assert again.digest(CANARY) == first.digest(CANARY)
    assert CANARY not in token and key_file.read_text().strip() not in repr(first)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o622])
def test_a_key_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / sealing.KEY_FILENAME
    key_file.write_text(sealing.new_key())
    key_file.chmod(mode)
    with pytest.raises(sealing.SealingError, match=f"by group or others \\(mode {mode:04o}\\).*chmod 600"):
        sealing.Sealer.from_file(key_file)


def test_a_key_file_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    real.write_text(sealing.new_key())
    real.chmod(0o600)
    link = tmp_path / sealing.KEY_FILENAME
    link.symlink_to(real)
    with pytest.raises(sealing.SealingError, match="is a symlink; refused"):
        sealing.Sealer.from_file(link)
    dangling = tmp_path / "dangling.key"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(sealing.SealingError, match="is a symlink; refused"):
        sealing.Sealer.from_file(dangling)
    assert not (tmp_path / "nowhere").exists()  # O_EXCL never followed the link to create it


def test_a_key_file_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / sealing.KEY_FILENAME
    folder.mkdir(mode=0o700)
    with pytest.raises(sealing.SealingError, match="not a regular file"):
        sealing.Sealer.from_file(folder)


@pytest.mark.parametrize("content", ["", "short", "!" * 44, "QUJD" * 20])
def test_a_malformed_key_is_refused_without_showing_it(tmp_path: Path, content: str) -> None:
    key_file = tmp_path / sealing.KEY_FILENAME
    key_file.write_text(content)
    key_file.chmod(0o600)
    with pytest.raises(sealing.SealingError, match="does not hold a valid key") as caught:
        sealing.Sealer.from_file(key_file)
    assert not content or content not in str(caught.value)
    with pytest.raises(sealing.SealingError, match=f"environment variable {sealing.ENV_KEY} does not hold"):
        sealing.Sealer.load(key_file=key_file, environ={sealing.ENV_KEY: content or "x"})


def test_the_environment_key_wins_and_replicas_sharing_it_agree(tmp_path: Path) -> None:
    shared = sealing.new_key()
    one = sealing.Sealer.load(key_file=tmp_path / "a.key", environ={sealing.ENV_KEY: shared})
    two = sealing.Sealer.load(key_file=tmp_path / "b.key", environ={sealing.ENV_KEY: f" {shared}\n"})
    assert not (tmp_path / "a.key").exists()  # no key file made when the environment gives the key
    assert two.unseal(one.seal(CANARY)) == CANARY
    assert one.digest([1, {"b": 2, "a": 1}]) == two.digest([1, {"a": 1, "b": 2}])
    assert "environment variable" in one.origin and shared not in repr(one)


def test_a_value_sealed_with_another_key_is_a_clear_error(tmp_path: Path) -> None:
    token = sealing.Sealer(sealing.new_key(), origin="one").seal(CANARY)
    other = sealing.Sealer.load(key_file=tmp_path / sealing.KEY_FILENAME, environ={})
    with pytest.raises(sealing.SealingError, match="sealed with another key or is damaged") as caught:
        other.unseal(token)
    assert CANARY not in str(caught.value)
    with pytest.raises(sealing.SealingError, match="sealed with another key"):
        other.unseal("not a token \u00e9")


def test_digests_are_keyed_and_stable_and_the_canonical_json_matches_core() -> None:
    key = sealing.new_key()
    sealer = sealing.Sealer(key, origin="test")
    value = {"host": "db", "port": 5432, "tags": ["a", "é"]}
    assert sealer.digest(value) == sealing.Sealer(key, origin="again").digest(dict(reversed(value.items())))
    assert len(sealer.digest(value)) == 64
    assert sealer.digest(value) != outputs.digest_of(value)  # keyed: not the plain SHA-256
    assert sealer.digest(value) != sealing.Sealer(sealing.new_key(), origin="other").digest(value)
    assert sealing.canonical_json(value) == outputs.canonical_json(value)
    assert sealer.seal(value) != sealer.seal(value)  # a fresh IV each time: equal values look different

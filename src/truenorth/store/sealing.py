"""Sealing sensitive stack outputs at rest: a Fernet key the database never sees.

A Terraform output marked ``sensitive`` (a database password, say) must reach the
Ansible and Kubernetes stacks that read it, so the store has to keep it; it must not keep
it in clear, where a database dump, a backup or a stray ``SELECT`` would show it. The store
keeps such a value *sealed*: encrypted and authenticated with Fernet (AES-128-CBC and
HMAC-SHA256, from ``cryptography``) under a key that lives outside the database, and it
records a keyed digest (HMAC-SHA256) so that the controller can tell whether the value
changed without opening it, and so that a digest of a short secret cannot be guessed back.

The key is 32 random bytes, URL-safe base64 (44 characters), read from
:data:`ENV_KEY` (``TRUENORTH_OUTPUTS_KEY``) when it is set (replicas sharing one
PostgreSQL store must share it) or else from a key file (``<data-dir>/outputs.key``),
created on first use with mode 0600 and ``O_EXCL``. A key file that is a symlink, not a
regular file, or readable by group or others is refused: whoever can read the key can
read every sealed output. Both the encryption key and the digest key are derived from
the one secret with HKDF-SHA256, each for its own purpose.

Losing the key loses the sealed values (not the stacks): :meth:`Sealer.unseal` then
says so, and the next apply of the upstream stack records its outputs again.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from truenorth.store import errors

__all__ = ["ENV_KEY", "KEY_FILENAME", "Sealer", "SealingError", "canonical_json", "new_key"]

#: The environment variable that holds the key (wins over the key file).
ENV_KEY = "TRUENORTH_OUTPUTS_KEY"
#: The key file's name in the data dir.
KEY_FILENAME = "outputs.key"
_KEY_BYTES = 32
_PRIVATE_FILE = 0o600
_INFO = b"truenorth stack outputs v1"


class SealingError(errors.StoreError):
    """The key cannot be read or made, or a sealed value cannot be opened with it.

    The message says which key (file path or environment variable) and what to do; it
    never contains the key or a value.
    """


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces: the same text as ``truenorth.core.outputs.canonical_json``.

    Copied (the store may not import ``core``); a test checks that both agree, since
    digests of non-sensitive values computed on either side must match.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def new_key() -> str:
    """A fresh key: 32 random bytes, URL-safe base64 (what a key file and ``TRUENORTH_OUTPUTS_KEY`` hold)."""
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode("ascii")


class Sealer:
    """Seals, opens and digests values with one secret key. Build with :meth:`load`."""

    def __init__(self, key: str, *, origin: str) -> None:
        """``key`` as :func:`new_key` makes it; ``origin`` names where it came from (for errors)."""
        secret = _decode(key, origin=origin)
        derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_INFO).derive(secret)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived[:32]))
        self._digest_key = derived[32:]
        self.origin = origin

    def __repr__(self) -> str:
        return f"Sealer(origin={self.origin!r})"

    @classmethod
    def load(cls, *, key_file: Path, environ: Mapping[str, str] | None = None) -> Sealer:
        """The key from ``TRUENORTH_OUTPUTS_KEY`` if set, else from ``key_file`` (created if absent)."""
        environ = os.environ if environ is None else environ
        from_env = environ.get(ENV_KEY)
        if from_env is not None and from_env.strip():
            return cls(from_env.strip(), origin=f"the environment variable {ENV_KEY}")
        return cls.from_file(key_file)

    @classmethod
    def from_file(cls, path: Path) -> Sealer:
        """The key in ``path``, created (0600, ``O_EXCL``) when there is none yet."""
        path = Path(path)
        origin = f"the key file {path}"
        try:
            _create(path)
            text = _read_private(path, origin=origin)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise SealingError(f"cannot read or create {origin}: {reason}") from None
        return cls(text, origin=origin)

    def seal(self, value: Any) -> str:
        """``value`` (any JSON value) encrypted and authenticated, as text for the database."""
        return self._fernet.encrypt(_encoded(value)).decode("ascii")

    def unseal(self, token: str) -> Any:
        """The value :meth:`seal` sealed; :class:`SealingError` with another key or a damaged token."""
        try:
            plain = self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError, ValueError, TypeError):
            raise SealingError(
                f"cannot open a sealed output with the key from {self.origin}: it was sealed with another "
                f"key or is damaged (did {ENV_KEY} or the key file change?); apply the stack that "
                "produced it again to record it anew"
            ) from None
        return json.loads(plain)

    def digest(self, value: Any) -> str:
        """HMAC-SHA256 of ``value``'s canonical JSON under the derived digest key, hex."""
        return hmac.new(self._digest_key, _encoded(value), hashlib.sha256).hexdigest()


def _encoded(value: Any) -> bytes:
    try:
        return canonical_json(value).encode("utf-8")
    except (TypeError, ValueError) as exc:
        # The message names a type or a float problem, never the value.
        raise ValueError(f"a sensitive output must be a JSON value: {exc}") from None


def _decode(key: str, *, origin: str) -> bytes:
    """The 32 secret bytes of ``key``; :class:`SealingError` (never showing the key) otherwise."""
    problem = f"{origin} does not hold a valid key: 32 random bytes in URL-safe base64 (44 characters)"
    if not isinstance(key, str) or len(key) > 200:
        raise SealingError(problem)
    try:
        secret = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SealingError(problem) from None
    if len(secret) != _KEY_BYTES:
        raise SealingError(problem)
    return secret


def _create(path: Path) -> None:
    """Write a new key to ``path`` unless something is there already (never replaced)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, flags, _PRIVATE_FILE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, _PRIVATE_FILE)  # whatever the umask said
        os.write(fd, (new_key() + "\n").encode("ascii"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)


def _read_private(path: Path, *, origin: str) -> str:
    """The text of the key file, refusing a symlink, a non-file and any group or other access."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if path.is_symlink():
            raise SealingError(
                f"{origin} is a symlink; refused (make it a regular file, mode 0600)"
            ) from None
        raise exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SealingError(f"{origin} is not a regular file; refused")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise SealingError(
                f"{origin} is readable or writable by group or others (mode {mode:04o}); refused: "
                f"whoever reads it can open every sealed output. Run: chmod 600 {path}"
            )
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise SealingError(f"{origin} belongs to another user (uid {info.st_uid}); refused")
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise SealingError(
            f"{origin} does not hold a valid key: 32 random bytes in URL-safe base64 (44 characters)"
        ) from None

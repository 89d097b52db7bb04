"""The errors the Git adapter raises, with credentials always scrubbed.

Git's own messages quote the URL it was given, and a source URL may carry a token
(``https://user:token@host/repo``). Every :class:`GitError` redacts its message when
it is built, so whoever catches, logs or stores it cannot leak the credential.
"""

from __future__ import annotations

from truenorth import paths, texts
from truenorth.git import credentials

__all__ = ["MAX_MESSAGE", "GitError", "PathEscapeError"]

#: The most characters of an error message kept (a ref or a path in it may be huge).
MAX_MESSAGE = 4000


class GitError(RuntimeError):
    """A git operation failed or a source, ref or path was refused.

    The message has every URL credential replaced by ``***`` and is at most
    :data:`MAX_MESSAGE` characters (then cut with ``"... (N more bytes)"``).
    """

    def __init__(self, message: str) -> None:
        super().__init__(texts.bound(credentials.redact(message), MAX_MESSAGE))

    @property
    def message(self) -> str:
        """The redacted message."""
        return str(self.args[0])


class PathEscapeError(GitError, paths.PathEscapeError):
    """A path or a symlink in a checkout points outside the place it must stay in
    (found by git's adapter: a snapshot member or symlink). Catch
    :class:`truenorth.paths.PathEscapeError` for this and the filesystem checks alike."""

"""The errors the Git adapter raises, with credentials always scrubbed.

Git's own messages quote the URL it was given, and a source URL may carry a token
(``https://user:token@host/repo``). Every :class:`GitError` redacts its message when
it is built, so whoever catches, logs or stores it cannot leak the credential.
"""

from __future__ import annotations

from truenorth.git import credentials

__all__ = ["GitError", "PathEscapeError"]


class GitError(RuntimeError):
    """A git operation failed or a source, ref or path was refused.

    The message has every URL credential replaced by ``***``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(credentials.redact(message))

    @property
    def message(self) -> str:
        """The redacted message."""
        return str(self.args[0])


class PathEscapeError(GitError):
    """A path or a symlink in a checkout points outside the place it must stay in."""

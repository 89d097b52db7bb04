"""What the controller records about a commit it deploys.

A :class:`Commit` is read from a mirror by :meth:`MirrorCache.commit
<truenorth.git.mirrors.MirrorCache.commit>` and shown in history, run records and
merge-request comments (where it must be escaped: subjects are untrusted text).

Whoever can push writes the author and the subject, and git puts no limit on them: a
commit may carry a one-megabyte subject. Each field is therefore bounded here, where the
text enters truenorth, and cut with a visible ``"... (N more bytes)"`` marker; control
characters are kept as data and escaped wherever text is shown on a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from truenorth import texts

__all__ = ["MAX_NAME", "MAX_SUBJECT", "Commit"]

#: The most characters of a subject line kept.
MAX_SUBJECT = 1000
#: The most characters of an author name or e-mail address kept.
MAX_NAME = 256


@dataclass(frozen=True)
class Commit:
    """One commit: full SHA, author, author date (timezone-aware) and subject line.

    The author's name and e-mail and the subject are cut to :data:`MAX_NAME` and
    :data:`MAX_SUBJECT` characters when the commit is made.
    """

    sha: str
    author_name: str
    author_email: str
    date: datetime
    subject: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "author_name", texts.bound(self.author_name, MAX_NAME))
        object.__setattr__(self, "author_email", texts.bound(self.author_email, MAX_NAME))
        object.__setattr__(self, "subject", texts.bound(self.subject, MAX_SUBJECT))

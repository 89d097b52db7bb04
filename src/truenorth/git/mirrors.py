"""The mirror cache: one bare mirror per repository, and snapshots of its commits.

The controller asks "what is the newest commit of this branch?" (:meth:`ls_remote`
without fetching, or :meth:`fetch` then :meth:`resolve`), "what changed?"
(:meth:`changed_paths`) and "give me that commit's files" (:meth:`snapshot`). Every
spelling of one repository shares a mirror, keyed by :func:`urls.normalize`. Writing
a mirror holds its lock; reading does not need to (git updates refs atomically).

Layout under ``root``: ``mirrors/<sha256 of key>`` (bare mirrors) with a ``.lock``
file each, ``snapshots/<commit sha>`` (read-only trees) and ``tmp/`` (archives).
The mirror's config never stores a URL credential: fetches pass the URL on the
command line and the stored ``origin`` URL is redacted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from truenorth.git import commands, commits, credentials, errors, locks, refs, trees, urls

__all__ = ["MAX_FACTS", "MirrorCache"]

#: How many facts about commits a cache keeps (:meth:`MirrorCache.recall`).
MAX_FACTS = 4096

# Snapshots hold the committed bytes: the repository's own .gitattributes may not
# substitute, drop or convert files on export ($GIT_DIR/info/attributes wins).
_VERBATIM_ATTRIBUTES = "* -export-subst -export-ignore -text -ident -filter -working-tree-encoding\n"
_FETCH = ("fetch", "--prune", "--force", "--quiet", "--no-write-fetch-head")
_COMMIT_FORMAT = "%H%x00%an%x00%ae%x00%aI%x00%s"


class MirrorCache:
    """Bare mirrors and commit snapshots under ``root``; ``timeout`` bounds each git call,
    ``max_snapshot_bytes`` and ``max_snapshot_files`` the content of one snapshot."""

    def __init__(
        self,
        root: Path,
        *,
        timeout: float = commands.DEFAULT_TIMEOUT,
        max_snapshot_bytes: int = trees.MAX_TOTAL_BYTES,
        max_snapshot_files: int = trees.MAX_FILES,
    ) -> None:
        self.root = root.absolute()
        self.timeout = timeout
        self.max_snapshot_bytes = max_snapshot_bytes
        self.max_snapshot_files = max_snapshot_files
        self._mirrors = self.root / "mirrors"
        self._snapshots = self.root / "snapshots"
        self._scratch = self.root / "tmp"
        self._facts: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._facts_lock = threading.Lock()

    def recall(self, source: str, *key: str) -> Any:
        """A fact about commits of ``source`` kept by :meth:`keep` (None if not kept).

        Facts about commits never change (a SHA names the same content forever): which
        SHA exists, a commit's details, what changed between two, which is an ancestor
        of which. Keeping them spares a git process per question; the oldest are dropped
        past :data:`MAX_FACTS`.
        """
        with self._facts_lock:
            found = self._facts.get((str(self.mirror_path(source)), *key))
            if found is not None:
                self._facts.move_to_end((str(self.mirror_path(source)), *key))
            return found

    def keep(self, source: str, *key: str, value: Any) -> None:
        """Keep ``value``, a fact about commits of ``source`` (see :meth:`recall`)."""
        with self._facts_lock:
            self._facts[(str(self.mirror_path(source)), *key)] = value
            while len(self._facts) > MAX_FACTS:
                self._facts.popitem(last=False)

    def mirror_path(self, source: str) -> Path:
        """Where the mirror of ``source`` lives (whether or not it exists yet)."""
        key = urls.normalize(urls.to_url(source))
        return self._mirrors / hashlib.sha256(key.encode()).hexdigest()

    def fetch(self, source: str) -> Path:
        """Clone the mirror on first use, else fetch into it (prune, force); return its path.

        Exactly one network operation. Concurrent callers (threads or processes)
        take turns on the mirror's lock.
        """
        return self._fetch(source, refresh=True)

    def ls_remote(self, source: str, ref: str) -> str | None:
        """The commit SHA the remote has for branch or tag ``ref`` (tags peeled), without fetching.

        ``None`` when the remote has no such branch or tag. A full SHA is returned as
        is (a pinned commit never moves); abbreviated SHAs cannot be checked remotely.
        """
        url = urls.to_url(source)
        refs.check_ref(ref)
        if refs.is_full_sha(ref):
            return ref
        wanted = (
            [ref] if ref == "HEAD" or ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        )
        self._scratch.mkdir(parents=True, exist_ok=True)
        out = self._git(
            ["ls-remote", "--end-of-options", url, *wanted, *(f"{name}^{{}}" for name in wanted)],
            cwd=self._scratch,
            secrets=credentials.secrets_in(url),
        )
        advertised: dict[str, str] = {}
        for line in out.text().splitlines():
            sha, _, name = line.partition("\t")
            advertised[name] = sha
        for name in wanted:
            found = advertised.get(f"{name}^{{}}") or advertised.get(name)
            if found:
                return found
        return None

    def default_branch(self, source: str) -> str:
        """The branch the remote's HEAD pointed to when the mirror was cloned."""
        path = self._mirror(source)
        out = self._git(["symbolic-ref", "--quiet", "HEAD"], cwd=path, ok_codes=(0, 1))
        name = out.text().strip()
        if out.returncode != 0 or not name.startswith("refs/heads/"):
            raise errors.GitError(f"{source} has no default branch (its HEAD is not a branch)")
        return name.removeprefix("refs/heads/")

    def resolve(self, source: str, ref: str) -> str:
        """The full commit SHA of a branch, tag (peeled), ``refs/...`` name or (short) SHA.

        Branches win over tags of the same name. Reads the mirror only (it is cloned
        first if missing). Raises :class:`GitError` naming ``ref`` if unknown.
        """
        if refs.is_full_sha(ref):
            return self._object(source, ref)
        candidates = refs.candidates(ref)
        path = self._mirror(source)
        for name in candidates:
            out = self._git(
                ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}"],
                cwd=path,
                ok_codes=(0, 1),
            )
            if out.returncode == 0:
                return out.text().strip()
        raise errors.GitError(f"unknown ref {ref!r} in {source}: no such branch, tag or commit")

    def commit(self, source: str, sha: str) -> commits.Commit:
        """Metadata of the commit ``sha`` (any ref :meth:`resolve` accepts).

        A full SHA is read with one ``git show`` (which checks that it is a commit), once.
        """
        if refs.is_full_sha(sha):
            kept = self.recall(source, "commit", sha)
            if isinstance(kept, commits.Commit):
                return kept
            full = sha
            shown = f"{sha}^{{commit}}"
        else:
            full = shown = self.resolve(source, sha)
        out = self._git(
            ["show", "-s", "--no-notes", f"--format={_COMMIT_FORMAT}", "--end-of-options", shown],
            cwd=self._mirror(source),
            ok_codes=(0, 128),
        )
        fields = out.text().rstrip("\n").split("\x00")
        if out.returncode != 0 or not refs.is_full_sha(fields[0]):
            raise errors.GitError(f"unknown ref {sha!r} in {source}: no such branch, tag or commit")
        if len(fields) != 5:
            raise errors.GitError(f"unexpected output from git show for {full}")
        found = commits.Commit(
            sha=fields[0],
            author_name=fields[1],
            author_email=fields[2],
            date=datetime.fromisoformat(fields[3]),
            subject=fields[4],
        )
        self.keep(source, "object", full, value=found.sha)  # (a tag's SHA: its commit)
        self.keep(source, "commit", full, value=found)
        return found

    def changed_paths(self, source: str, old: str | None, new: str) -> tuple[str, ...]:
        """Sorted paths that differ between commits ``old`` and ``new``.

        A rename lists both its old and new path. ``old=None`` lists every file of
        ``new``. Submodules count as one path each.
        """
        path = self._mirror(source)
        new_sha = self.resolve(source, new)
        old_sha = self.resolve(source, old) if old is not None else ""
        kept = self.recall(source, "changed", old_sha, new_sha)
        if isinstance(kept, tuple):
            return kept
        if old is None:
            args = ["ls-tree", "-r", "-z", "--name-only", "--full-tree", "--end-of-options", new_sha]
        else:
            args = ["diff-tree", "-r", "-z", "--name-only", "--no-renames", "--no-commit-id"]
            args += ["--end-of-options", old_sha, new_sha]
        out = self._git(args, cwd=path)
        found = tuple(sorted({os.fsdecode(item) for item in out.stdout.split(b"\x00") if item}))
        self.keep(source, "changed", old_sha, new_sha, value=found)
        return found

    def snapshot(self, source: str, sha: str) -> Path:
        """The read-only tree of commit ``sha`` at ``root/snapshots/<full sha>``.

        Idempotent and safe under concurrency: the tree is built in a temporary
        directory and renamed into place whole. Submodules are never fetched (their
        folders are empty). Raises :class:`PathEscapeError` naming the link if any
        symlink leads outside the tree; nothing is left behind then.
        """
        existing = self._snapshots / sha
        if refs.is_full_sha(sha) and existing.is_dir():
            return existing
        full = self.resolve(source, sha)
        dest = self._snapshots / full
        if dest.is_dir():
            return dest
        for folder in (self._snapshots, self._scratch):
            folder.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{full}.", dir=self._snapshots))
        handle, name = tempfile.mkstemp(suffix=".tar", dir=self._scratch)
        os.close(handle)
        archive = Path(name)
        try:
            self._git(
                ["archive", "--format=tar", f"--output={archive}", "--end-of-options", full],
                cwd=self.mirror_path(source),
            )
            trees.extract(archive, work, max_bytes=self.max_snapshot_bytes, max_files=self.max_snapshot_files)
            trees.seal(work)
            try:
                os.rename(work, dest)
            except OSError:
                if not dest.is_dir():
                    raise
                trees.remove(work)  # another caller finished first: same content
        except BaseException:
            trees.remove(work)
            raise
        finally:
            archive.unlink(missing_ok=True)
        return dest

    def remove_snapshot(self, sha: str) -> None:
        """Delete the snapshot of ``sha`` (a full SHA) if it exists."""
        if not refs.is_full_sha(sha):
            raise errors.GitError(f"{sha!r} is not a full commit SHA")
        path = self._snapshots / sha
        if not path.is_dir():
            return
        # Move it out of the way first, so nobody sees a half-deleted snapshot.
        trash = Path(tempfile.mkdtemp(prefix=f".{sha}.trash.", dir=self._snapshots))
        os.rename(path, trash / sha)
        trees.remove(trash)

    def _object(self, source: str, sha: str) -> str:
        """The commit ``sha`` names in the mirror (one ``rev-parse``, once); else GitError."""
        kept = self.recall(source, "object", sha)
        if isinstance(kept, str):
            return kept
        out = self._git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{sha}^{{commit}}"],
            cwd=self._mirror(source),
            ok_codes=(0, 1),
        )
        found = out.text().strip()
        if out.returncode != 0 or not refs.is_full_sha(found):
            raise errors.GitError(f"unknown ref {sha!r} in {source}: no such branch, tag or commit")
        self.keep(source, "object", sha, value=found)
        return found

    def _mirror(self, source: str) -> Path:
        """The mirror of ``source``, cloned first if it does not exist yet."""
        path = self.mirror_path(source)
        return path if path.is_dir() else self._fetch(source, refresh=False)

    def _fetch(self, source: str, *, refresh: bool) -> Path:
        """Clone if missing; else fetch only when ``refresh``. Holds the mirror's lock."""
        url = urls.to_url(source)
        path = self.mirror_path(source)
        secrets = credentials.secrets_in(url)
        with locks.exclusive(path.with_name(path.name + ".lock")):
            if not path.is_dir():
                self._clone(url, path, secrets)
            elif refresh:  # (else another caller cloned it while we waited)
                self._git([*_FETCH, "--end-of-options", url, "+refs/*:refs/*"], cwd=path, secrets=secrets)
        return path

    def _clone(self, url: str, path: Path, secrets: Sequence[str]) -> None:
        self._mirrors.mkdir(parents=True, exist_ok=True)
        for stale in self._mirrors.glob(f".{path.name}.*"):
            trees.remove(stale)  # a clone that was killed half-way
        work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=self._mirrors))
        try:
            self._git(
                ["clone", "--mirror", "--no-hardlinks", "--quiet", "--", url, str(work)],
                cwd=self._mirrors,
                secrets=secrets,
            )
            self._git(["config", "remote.origin.url", urls.redact(url)], cwd=work)
            (work / "info").mkdir(exist_ok=True)
            (work / "info" / "attributes").write_text(_VERBATIM_ATTRIBUTES)
            os.rename(work, path)
        except BaseException:
            trees.remove(work)
            raise

    def _git(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        secrets: Sequence[str] = (),
        ok_codes: Sequence[int] = (0,),
    ) -> commands.GitOutput:
        return commands.run_git(args, cwd=cwd, timeout=self.timeout, secrets=secrets, ok_codes=ok_codes)

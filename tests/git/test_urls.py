"""Sources: redaction, normalization and the allow-list of transports."""

from __future__ import annotations

from pathlib import Path

import pytest

from truenorth.git import urls
from truenorth.git.errors import GitError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:token@host/x", "https://***@host/x"),
        ("https://token@host/x", "https://***@host/x"),
        ("https://user:p@ss@host/x", "https://***@host/x"),
        (
            "fatal: unable to access 'http://u:t0k3n@127.0.0.1:9/r.git/': refused",
            "fatal: unable to access 'http://***@127.0.0.1:9/r.git/': refused",
        ),
        ("a https://a:b@h/1 and ssh://c:d@h/2", "a https://***@h/1 and ssh://***@h/2"),
        ("https://host/x and mail@example.com", "https://host/x and mail@example.com"),
        ("no urls here", "no urls here"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert urls.redact(text) == expected


@pytest.mark.parametrize(
    "url",
    [
        "git@github.com:Org/Repo.git",
        "GitHub.com:Org/Repo",
        "https://github.com/Org/Repo",
        "https://github.com/Org/Repo.git/",
        "https://GitHub.COM:443/Org/Repo",
        "https://user:token@github.com/Org/Repo.git",
        "http://github.com:80/Org/Repo",
        "ssh://git@github.com/Org/Repo.git",
        "ssh://git@GITHUB.com:22/Org/Repo.git",
        "git://github.com/Org/Repo.git",
        "https://github.com//Org//Repo",
    ],
)
def test_normalize_github_spellings(url: str) -> None:
    assert urls.normalize(url) == "github.com/Org/Repo"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://git.example.com:8443/Group/Sub/Proj.git", "git.example.com:8443/Group/Sub/Proj"),
        ("ssh://git@git.example.com:2222/a/b.git", "git.example.com:2222/a/b"),
        ("https://[::1]:8443/x.git", "[::1]:8443/x"),
        ("https://host/a%20b.git", "host/a b"),
    ],
)
def test_normalize_keeps_what_tells_repositories_apart(url: str, expected: str) -> None:
    assert urls.normalize(url) == expected


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("https://host/org/infra.git", "https://host/Org/Infra.git"),
        ("git@host:org/infra.git", "git@host:ORG/infra.git"),
        ("ssh://git@host/org/infra", "https://host/org/INFRA"),
    ],
)
def test_paths_that_differ_only_in_case_are_two_repositories(one: str, other: str) -> None:
    """Git servers may serve both: lower-casing the path would share their mirror and records."""
    assert urls.normalize(one) != urls.normalize(other)


def test_host_case_never_tells_repositories_apart() -> None:
    assert urls.normalize("https://GIT.Example.COM/Org/Infra") == urls.normalize(
        "git@git.example.com:Org/Infra"
    )


def test_normalize_local_paths_and_file_urls(tmp_path: Path) -> None:
    real = tmp_path / "Repo"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    expected = str(real.resolve())
    assert urls.normalize(str(real)) == expected
    assert urls.normalize(real.as_uri()) == expected
    assert urls.normalize(str(tmp_path / "alias")) == expected
    assert urls.normalize(f"{real}/") == expected


def test_to_url_turns_a_directory_into_a_file_url(tmp_path: Path) -> None:
    assert urls.to_url(str(tmp_path)) == tmp_path.resolve().as_uri()


@pytest.mark.parametrize(
    "url",
    [
        "https://host/org/repo.git",
        "http://host:8080/repo",
        "ssh://git@host/repo.git",
        "git://host/repo",
        "file:///srv/repo.git",
        "git@host:org/repo.git",
    ],
)
def test_to_url_accepts_allowed_urls_unchanged(url: str) -> None:
    assert urls.to_url(url) == url


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("ext::sh -c touch% /tmp/pwned", "transport"),
        ("fd::3", "transport"),
        ("file::/tmp/x", "transport"),
        ("-uhoh", "starts with '-'"),
        ("--upload-pack=touch /tmp/x", "starts with '-'"),
        ("ftp://host/repo", "scheme 'ftp'"),
        ("ssh://-oProxyCommand=touch/x", "starting with '-'"),
        ("https:///no-host", "no host"),
        ("https://host/x\nfoo", "control characters"),
        ("", "empty"),
        ("/definitely/not/a/dir", "neither an existing directory"),
    ],
)
def test_to_url_refuses(source: str, reason: str) -> None:
    with pytest.raises(GitError, match=reason):
        urls.to_url(source)


def test_normalize_refuses_transports() -> None:
    with pytest.raises(GitError, match="transport"):
        urls.normalize("ext::sh -c id")

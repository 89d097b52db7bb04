"""Paths and symlinks that must stay inside a checkout or a stack folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from truenorth.paths import PathEscapeError, escaping_links, resolve_inside


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    for stack in ("a", "b"):
        (root / "stacks" / stack).mkdir(parents=True)
        (root / "stacks" / stack / "main.tf").write_text(f"# {stack}\n")
    (root / "shared.tfvars").write_text("x = 1\n")
    (tmp_path / "secret").write_text("outside\n")
    return root


def test_resolve_inside_returns_the_real_path(checkout: Path) -> None:
    assert resolve_inside(checkout, "stacks/a/main.tf") == (checkout / "stacks/a/main.tf").resolve()
    assert resolve_inside(checkout, ".") == checkout.resolve()
    assert resolve_inside(checkout, "stacks/a/not-yet.tf") == (checkout / "stacks/a/not-yet.tf").resolve()
    (checkout / "stacks" / "a" / "vars").symlink_to("../../shared.tfvars")
    assert resolve_inside(checkout, "stacks/a/vars") == (checkout / "shared.tfvars").resolve()


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("../secret", "contains '..'"),
        ("stacks/../../secret", "contains '..'"),
        ("/etc/passwd", "is absolute"),
        ("stacks/a\x00", "NUL"),
    ],
)
def test_resolve_inside_refuses_traversal(checkout: Path, relative: str, message: str) -> None:
    with pytest.raises(PathEscapeError, match=message):
        resolve_inside(checkout, relative)


def test_resolve_inside_refuses_symlink_escapes(checkout: Path) -> None:
    (checkout / "stacks" / "a" / "passwd").symlink_to("/etc/passwd")
    (checkout / "stacks" / "a" / "up").symlink_to("../../..")
    with pytest.raises(PathEscapeError, match="resolves outside"):
        resolve_inside(checkout, "stacks/a/passwd")
    with pytest.raises(PathEscapeError, match="resolves outside"):
        resolve_inside(checkout, "stacks/a/up/secret")


def test_escaping_links_finds_links_out_of_a_stack_folder(checkout: Path) -> None:
    a = checkout / "stacks" / "a"
    (a / "other-stack").symlink_to("../b")
    (a / "passwd").symlink_to("/etc/passwd")
    (a / "dangling").symlink_to("../../../nowhere")
    (a / "modules").mkdir()
    (a / "modules" / "deep").symlink_to("../../b/main.tf")
    (a / "local").symlink_to("main.tf")
    (a / "modules" / "back").symlink_to("../main.tf")
    assert escaping_links(checkout, "stacks/a") == [
        "stacks/a/dangling",
        "stacks/a/modules/deep",
        "stacks/a/other-stack",
        "stacks/a/passwd",
    ]
    assert escaping_links(checkout, "stacks/b") == []
    # Relative to the whole checkout, only the links that leave it count.
    assert escaping_links(checkout, ".") == ["stacks/a/dangling", "stacks/a/passwd"]


def test_escaping_links_reports_a_stack_folder_that_is_itself_a_link(checkout: Path) -> None:
    (checkout / "stacks" / "c").symlink_to("b")
    assert escaping_links(checkout, "stacks/c") == ["stacks/c"]


def test_escaping_links_refuses_traversal_and_ignores_missing_folders(checkout: Path) -> None:
    with pytest.raises(PathEscapeError):
        escaping_links(checkout, "../")
    assert escaping_links(checkout, "stacks/missing") == []

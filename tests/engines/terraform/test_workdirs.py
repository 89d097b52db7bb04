"""The writable working copy: hard links, symlinks kept inside, never writing through."""

from __future__ import annotations

import os
from pathlib import Path

from truenorth.engines.terraform import workdirs
from truenorth.git import trees


def make_checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "stacks" / "app").mkdir(parents=True)
    (root / "modules" / "m").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("x")
    (root / "stacks" / "app" / "main.tf").write_text("# app\n")
    (root / "modules" / "m" / "main.tf").write_text("# m\n")
    (root / "stacks" / "app" / "mod").symlink_to("../../modules/m")
    (root / "stacks" / "app" / "file.txt").symlink_to("main.tf")
    (root / "stacks" / "app" / "away").symlink_to("/etc")
    trees.seal(root)
    return root


def test_build_mirrors_the_checkout_writable(tmp_path: Path) -> None:
    checkout = make_checkout(tmp_path)
    tree = tmp_path / "work" / "tree"
    workdirs.build(checkout, tree)
    app = tree / "stacks" / "app"
    assert (app / "main.tf").read_text() == "# app\n"
    # Hard links: the same inode, no copy.
    assert (app / "main.tf").stat().st_ino == (checkout / "stacks" / "app" / "main.tf").stat().st_ino
    # Links are recreated inside the mirror, relative.
    assert os.readlink(app / "mod") == "../../modules/m"
    assert (app / "mod" / "main.tf").read_text() == "# m\n"
    assert (app / "file.txt").resolve() == (app / "main.tf").resolve()
    # A link leading out of the checkout is left out; .git is not copied.
    assert not (app / "away").is_symlink()
    assert not (tree / ".git").exists()
    # Directories are writable so that Terraform can add files.
    (app / "new.txt").write_text("ok")
    # Building again replaces everything.
    workdirs.build(checkout, tree)
    assert not (app / "new.txt").exists()
    workdirs.remove(tree)
    assert not tree.exists()


def test_replace_file_never_writes_through_a_hard_link(tmp_path: Path) -> None:
    checkout = make_checkout(tmp_path)
    tree = tmp_path / "tree"
    workdirs.build(checkout, tree)
    workdirs.replace_file(tree / "stacks" / "app" / "main.tf", "# changed\n")
    assert (tree / "stacks" / "app" / "main.tf").read_text() == "# changed\n"
    assert (checkout / "stacks" / "app" / "main.tf").read_text() == "# app\n"
    assert (tree / "stacks" / "app" / "main.tf").stat().st_mode & 0o777 == 0o600

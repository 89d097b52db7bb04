"""`make run`: build the demo GitOps repository from examples/ and drive truenorth on it.

Creates (once) a real Git repository under the data dir from ``examples/demo``, then
plans it, applies it and prints the status, exactly as a user would with the CLI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "demo"


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME="truenorth demo",
        GIT_AUTHOR_EMAIL="demo@truenorth.invalid",
        GIT_COMMITTER_NAME="truenorth demo",
        GIT_COMMITTER_EMAIL="demo@truenorth.invalid",
    )
    done = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def build_demo_repo(target: Path) -> Path:
    """Create the demo repository once; later runs reuse it (and its new commits)."""
    if (target / ".git").is_dir():
        return target
    shutil.copytree(EXAMPLE, target)
    spec = target / "truenorth.yaml"
    spec.write_text(spec.read_text().replace("BASE_DIR", str(target.parent / "demo-hosts")))
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "Demo infrastructure: network and app stacks")
    return target


def truenorth(*args: str) -> int:
    exe = Path(sys.executable).parent / "truenorth"
    print(f"\n$ truenorth {' '.join(args)}", flush=True)
    return subprocess.run([str(exe), *args], check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(".truenorth"))
    options = parser.parse_args()
    data_dir = options.data_dir.absolute()
    data_dir.mkdir(parents=True, exist_ok=True)
    repo = build_demo_repo(data_dir / "demo-repo")
    common = ["--data-dir", str(data_dir)]
    print(f"Demo GitOps repository: {repo}")
    code = truenorth("validate", str(repo))
    if code != 0:
        return code
    code = truenorth("plan", str(repo), *common)
    if code not in (0, 2):
        return code
    code = truenorth("apply", str(repo), "--yes", *common)
    if code != 0:
        return code
    truenorth("status", *common)
    print(
        "\nEdit a file in the demo repository, commit it, and run `make run` again to see the change planned\n"
        f"and applied:  cd {repo} && $EDITOR stacks/app/main.tf && git commit -am 'scale app'"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

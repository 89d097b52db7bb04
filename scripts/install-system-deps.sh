#!/usr/bin/env bash
# Installs the Debian packages truenorth needs, when they are missing.
#   install-system-deps.sh run    what `make run` needs: git (the demo and every engine run),
#                                 bubblewrap (the default sandbox = "auto" confines engines
#                                 where it works; without it the demo runs them unconfined)
#   install-system-deps.sh test   also what the test suite needs: sshd and iproute2 (SSH
#                                 hosts in network namespaces), chromium (UI tests),
#                                 PostgreSQL (store tests), bubblewrap (the engine sandbox)
# Idempotent: does nothing (and asks no registry) when everything is there.
set -euo pipefail

profile="${1:-test}"
need=()
command -v git >/dev/null || need+=(git)
command -v bwrap >/dev/null || need+=(bubblewrap)
if [ "$profile" = test ]; then
  command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v ssh >/dev/null || need+=(openssh-client)
  command -v ip >/dev/null || [ -x /usr/sbin/ip ] || need+=(iproute2)
  command -v chromium >/dev/null || need+=(chromium)
  command -v setpriv >/dev/null || need+=(util-linux)
  if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    need+=(postgresql)
  fi
elif [ "$profile" != run ]; then
  echo "usage: $0 run|test" >&2
  exit 2
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

command -v terraform >/dev/null || echo "warning: terraform is not on PATH; Terraform stacks and their tests need it" >&2
command -v kubectl >/dev/null || echo "warning: kubectl is not on PATH; Kustomize rendering needs it" >&2
exit 0

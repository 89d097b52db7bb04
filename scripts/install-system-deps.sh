#!/usr/bin/env bash
# Installs the Debian packages truenorth's tests and demo use, when they are missing.
# Idempotent: does nothing (and asks no registry) when everything is there.
set -euo pipefail

need=()
command -v git >/dev/null || need+=(git)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || need+=(iproute2)
command -v chromium >/dev/null || need+=(chromium)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
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

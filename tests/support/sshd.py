"""Real SSH hosts for tests: sshd from Debian's openssh-server, throwaway keys, one in a netns.

:func:`start_hosts` starts one sshd on its own loopback address (``127.77.<worker>.<n>``
with a free port) and one inside a network namespace created for the test session,
reached over a veth pair with a private link-local /30 (``169.254.2xx.y``), so that
traffic never leaves the machine and the namespaced host can be cut off mid-run
(:meth:`SshHosts.cut`) and brought back (:meth:`SshHosts.restore`). Host and client
keys are generated with ``ssh-keygen`` into a temp dir; the client trusts the host key
through its own ``known_hosts`` with ``StrictHostKeyChecking=yes``.

:meth:`SshHosts.inventory` writes an Ansible inventory for a test: ``localhost``-style
hosts (``ansible_connection=local``), the SSH hosts, and optionally a host nobody
listens on; every host gets its own ``base_dir`` so that their files differ although
they share one filesystem. Readiness is awaited by polling a TCP connect (bounded),
never by sleeping a fixed time. Everything is torn down, namespaces included, even
after failures. Use the ``ssh_hosts`` fixture (session-scoped, so one set per xdist
worker).
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = ["SshHost", "SshHosts", "ssh_hosts", "start_hosts"]

SSHD = Path("/usr/sbin/sshd")
READY_TIMEOUT = 60.0  # generous: a busy machine starts sshd slowly; it is polled
#: SSH client options that make a dead link show up within a few seconds.
FAST_FAILURE = "-o ConnectTimeout=3 -o ConnectionAttempts=1 -o ServerAliveInterval=1 -o ServerAliveCountMax=2"


@dataclass(frozen=True)
class SshHost:
    """One running sshd: where it listens, and its namespace and veth when it has one."""

    name: str
    address: str
    port: int
    namespace: str | None = None
    host_veth: str | None = None


class SshHosts:
    """A set of running sshd hosts with the client key and known_hosts to reach them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hosts: dict[str, SshHost] = {}
        self.client_key = root / "client_ed25519"
        self.host_key = root / "host_ed25519"
        self.known_hosts = root / "known_hosts"
        self._procs: list[subprocess.Popen[bytes]] = []
        self._namespaces: list[str] = []
        self._veths: list[str] = []

    # ------------------------------------------------------------ inventory

    def host_vars(self, name: str, base_dir: Path) -> dict[str, Any]:
        """Ansible variables that reach SSH host ``name`` as root with the throwaway key."""
        host = self.hosts[name]
        return {
            "ansible_host": host.address,
            "ansible_port": host.port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.client_key),
            "ansible_ssh_common_args": (
                f"-F /dev/null -o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes "
                f"-o IdentitiesOnly=yes {FAST_FAILURE}"
            ),
            "ansible_ssh_args": "-o ControlMaster=auto -o ControlPersist=10s",
            "ansible_timeout": 3,
            "ansible_pipelining": True,
            "ansible_python_interpreter": "/usr/bin/python3",
            "base_dir": str(base_dir),
        }

    def dead_host_vars(self, base_dir: Path) -> dict[str, Any]:
        """Variables for a host that nobody listens on (unreachable from the start)."""
        address = self.hosts[next(iter(self.hosts))].address if self.hosts else "127.0.0.1"
        port = _free_port(address)
        return {
            "ansible_host": address,
            "ansible_port": port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.client_key),
            "ansible_ssh_common_args": f"-F /dev/null -o UserKnownHostsFile={self.known_hosts} "
            f"-o StrictHostKeyChecking=yes {FAST_FAILURE}",
            "ansible_timeout": 3,
            "ansible_python_interpreter": "/usr/bin/python3",
            "base_dir": str(base_dir),
        }

    def inventory(
        self,
        base_root: Path,
        *,
        ssh: Sequence[str] | None = None,
        local: Sequence[str] = ("local",),
        dead: Sequence[str] = (),
        extra: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> str:
        """A YAML inventory: ``local`` hosts, the ``ssh`` hosts (all by default), ``dead`` hosts.

        Every host's ``base_dir`` is ``base_root/<host>``; ``extra`` adds per-host vars.
        """
        hosts: dict[str, dict[str, Any]] = {}
        for name in local:
            hosts[name] = {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "base_dir": str(base_root / name),
            }
        for name in self.hosts if ssh is None else ssh:
            hosts[name] = self.host_vars(name, base_root / name)
        for name in dead:
            hosts[name] = self.dead_host_vars(base_root / name)
        for name, values in (extra or {}).items():
            hosts.setdefault(name, {}).update(values)
        return yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=True)

    # ------------------------------------------------------------ faults

    def cut(self, name: str) -> None:
        """Take the namespaced host's link down (from the host side): it becomes unreachable."""
        veth = self.hosts[name].host_veth
        assert veth is not None, f"{name} has no link to cut"
        _ip("link", "set", veth, "down")

    def restore(self, name: str) -> None:
        """Bring the link back up and wait until sshd answers again."""
        host = self.hosts[name]
        assert host.host_veth is not None, f"{name} has no link to restore"
        _ip("link", "set", host.host_veth, "up")
        _wait_for_port(host.address, host.port, process=None)

    @contextlib.contextmanager
    def link_restored_after(self, name: str) -> Iterator[None]:
        """Restore ``name``'s link when the block ends, whatever happens in it."""
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                self.restore(name)

    # ------------------------------------------------------------ lifecycle

    def start_loopback(self, name: str, *, address: str) -> SshHost:
        """Start sshd on ``address`` (a 127.x address) with a free port."""
        port = _free_port(address)
        host = SshHost(name=name, address=address, port=port)
        self._start(host, prefix=[])
        return host

    def start_namespaced(self, name: str) -> SshHost:
        """Create a namespace and veth pair, and start sshd inside on port 22."""
        tag = secrets.token_hex(3)
        namespace = f"tn-{os.getpid()}-{tag}"
        host_veth, ns_veth = f"tnh{tag}", f"tnn{tag}"
        network = _free_link_network()
        host_ip, ns_ip = (str(addr) for addr in list(network.hosts())[:2])
        _ip("netns", "add", namespace)
        self._namespaces.append(namespace)
        _ip("link", "add", host_veth, "type", "veth", "peer", "name", ns_veth)
        self._veths.append(host_veth)
        _ip("link", "set", ns_veth, "netns", namespace)
        _ip("addr", "add", f"{host_ip}/{network.prefixlen}", "dev", host_veth)
        _ip("link", "set", host_veth, "up")
        _ip("-n", namespace, "addr", "add", f"{ns_ip}/{network.prefixlen}", "dev", ns_veth)
        _ip("-n", namespace, "link", "set", ns_veth, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        host = SshHost(name=name, address=ns_ip, port=22, namespace=namespace, host_veth=host_veth)
        self._start(host, prefix=["ip", "netns", "exec", namespace])
        return host

    def _start(self, host: SshHost, *, prefix: list[str]) -> None:
        config = self.root / f"sshd_{host.name}.conf"
        config.write_text(
            "\n".join(
                [
                    f"Port {host.port}",
                    f"ListenAddress {host.address}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.root / f'sshd_{host.name}.pid'}",
                    f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "Subsystem sftp internal-sftp",
                    "MaxStartups 100",
                    "MaxSessions 100",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        log = (self.root / f"sshd_{host.name}.log").open("ab")
        proc = subprocess.Popen(
            [*prefix, str(SSHD), "-D", "-e", "-f", str(config)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self._procs.append(proc)
        entry = f"[{host.address}]:{host.port}" if host.port != 22 else host.address
        key = (self.host_key.with_suffix(".pub")).read_text().split()
        with self.known_hosts.open("a") as handle:
            handle.write(f"{entry} {key[0]} {key[1]}\n")
        _wait_for_port(host.address, host.port, process=proc, log=self.root / f"sshd_{host.name}.log")
        self.hosts[host.name] = host

    def close(self) -> None:
        """Stop every sshd and delete the namespaces and links (idempotent)."""
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs.clear()
        for namespace in self._namespaces:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        self._namespaces.clear()
        for veth in self._veths:
            subprocess.run(["ip", "link", "del", veth], capture_output=True, check=False)
        self._veths.clear()


def start_hosts(root: Path, *, worker: int = 0) -> SshHosts:
    """Generate keys and start a loopback host ``loop`` and a namespaced host ``netns``."""
    if not (SSHD.exists() and os.access(SSHD, os.X_OK)):
        pytest.fail("sshd is missing: install Debian's openssh-server (make test does it)", pytrace=False)
    if shutil.which("ip") is None:
        pytest.fail("the ip command is missing: install iproute2 (make test does it)", pytrace=False)
    if os.geteuid() != 0:
        pytest.fail("SSH host tests need root (sshd as root, network namespaces)", pytrace=False)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    hosts = SshHosts(root)
    atexit.register(hosts.close)
    try:
        for key in (hosts.host_key, hosts.client_key):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "truenorth-test", "-f", str(key)],
                check=True,
                capture_output=True,
            )
        (root / "authorized_keys").write_text(hosts.client_key.with_suffix(".pub").read_text())
        hosts.known_hosts.write_text("")
        hosts.start_loopback("loop", address=f"127.77.{worker % 250}.{10 + os.getpid() % 200}")
        hosts.start_namespaced("netns")
    except BaseException:
        hosts.close()
        raise
    return hosts


@pytest.fixture(scope="session")
def ssh_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshHosts]:
    """Real sshd hosts ``loop`` (127.x) and ``netns`` (in a network namespace), per worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int("".join(ch for ch in worker if ch.isdigit()) or 0)
    hosts = start_hosts(tmp_path_factory.mktemp("sshd"), worker=index)
    try:
        yield hosts
    finally:
        hosts.close()


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _free_link_network() -> ipaddress.IPv4Network:
    """A /30 in 169.254.200.0/21 that no interface on this machine uses yet."""
    used = subprocess.run(
        ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    taken = [
        ipaddress.ip_interface(word).network
        for line in used.splitlines()
        for word in line.split()
        if "/" in word and word[0].isdigit()
    ]
    pool = ipaddress.ip_network("169.254.200.0/21")
    candidates = list(pool.subnets(new_prefix=30))
    for _ in range(200):
        network = candidates[secrets.randbelow(len(candidates))]
        if not any(network.overlaps(other) for other in taken):
            return network
    raise RuntimeError("no free 169.254.200.0/21 subnet for a test link")


def _wait_for_port(
    address: str,
    port: int,
    *,
    process: subprocess.Popen[bytes] | None,
    log: Path | None = None,
) -> None:
    """Poll a TCP connect until it succeeds (bounded); fail early if sshd exited."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process is not None and process.poll() is not None:
            detail = log.read_text(errors="replace") if log is not None and log.exists() else ""
            raise RuntimeError(f"sshd on {address}:{port} exited with {process.returncode}: {detail}")
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"sshd on {address}:{port} did not answer within {READY_TIMEOUT}s"
                ) from None
            time.sleep(0.05)

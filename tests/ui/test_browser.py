"""The web UI in a real browser: headless Chromium (Debian's) through Playwright, a real server.

One real ``truenorth serve`` tracks two real Git repositories: ``infra`` (a Terraform
stack and an Ansible stack, neither applied by itself, under a commit whose subject is
HTML), ``broken`` (its only ``truenorth.yaml`` is refused) and ``apps`` (a Kubernetes
stack on the API test server, ``tests/support/kubeapi``). The tests log in with the
login form, read the overview, filter it and go back, open stacks by deep link and read
their pending Terraform, Ansible and Kubernetes plans, approve a plan and watch its apply log
arrive live while another tab's overview row turns synced by itself (server-sent
events), roll back with a reason, and check that a viewer sees no action button and is
refused anyway, that the hostile subject is text and that the page fits 420 px.
Every wait awaits a selector or a state, with generous timeouts (CI shares two cores).
Screenshots go to ``$TRUENORTH_TEST_ARTIFACTS`` (default: a pytest tmp folder), printed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.processes import ServerProcess, wait_for
from tests.support.browser import find_chromium
from tests.support.gitrepos import GitRepo
from tests.support.kubeapi import KubeAPIServer

# The dev extras install playwright, and scripts/install-system-deps.sh Debian's chromium:
# without either, these tests fail (a skip would pass `make test` with no browser test run).
try:
    from playwright import sync_api as playwright_api
except ImportError:  # pragma: no cover - a set-up without the dev extras
    playwright_api = None

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ui")]

VIEWER = "tn-ui-viewer-token-0123456789"
ADMIN = "tn-ui-admin-token-0123456789ab"
HOSTILE_SUBJECT = "<img src=x onerror=alert(1)> <script>alert(2)</script>"
TIMEOUT_MS = 180_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
  - name: hosts
    engine: ansible
    path: ansible
    inventory: inventory.yml
    extra_vars: {{base_dir: {base}}}
"""
PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: managed file
      ansible.builtin.copy:
        dest: "{{ base_dir }}/{{ inventory_hostname }}.conf"
        content: "managed by truenorth\\n"
        mode: "0644"
"""
INVENTORY = """\
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  hosts:
    web1: {}
"""
#: The ``apps`` repository: one Kubernetes stack on the API test server (cluster ``demo``).
APPS_SPEC = """\
stacks:
  - name: web
    engine: kubernetes
    path: k8s
    target: demo
    namespace: shop
    wait: false
"""
SECRET_VALUE = "tn-ui-k8s-secret-value-0123"
K8S_OBJECTS = f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  greeting: hello from the ui test
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
  namespace: shop
stringData:
  password: {SECRET_VALUE}
"""


if playwright_api is not None:
    playwright_api.expect.set_options(timeout=TIMEOUT_MS)


def terraform(cidr: str) -> str:
    return f'resource "terraform_data" "vpc" {{\n  input = "{cidr}"\n}}\n'


class World:
    """The server, its repositories, and where screenshots go."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        base = tmp / "hosts"
        base.mkdir()
        self.infra = GitRepo(tmp / "infra")
        self.first = self.infra.commit(
            HOSTILE_SUBJECT,
            {
                "truenorth.yaml": SPEC.format(base=base),
                "stacks/network/main.tf": terraform("10.0.0.0/16"),
                "ansible/site.yml": PLAYBOOK,
                "ansible/inventory.yml": INVENTORY,
            },
        )
        self.broken = GitRepo(tmp / "broken")
        self.broken.commit("broken spec", {"truenorth.yaml": "stacks:\n  - name: web\n    engine: nope\n"})
        self.apps = GitRepo(tmp / "apps")
        self.apps.commit("shop web", {"truenorth.yaml": APPS_SPEC, "k8s/web.yaml": K8S_OBJECTS})
        self.kube = KubeAPIServer().start()
        kubeconfig = self.kube.kubeconfig(tmp / "kubeconfig")
        config = tmp / "truenorth.toml"
        config.write_text(
            f"""\
listen = "127.0.0.1:0"
data_dir = "{tmp / "data"}"

[[repositories]]
name = "infra"
url = "{self.infra.url}"
poll_interval = "1s"
sandbox_writable = ["{base}"]

[[repositories]]
name = "broken"
url = "{self.broken.url}"
poll_interval = "1h"

[[repositories]]
name = "apps"
url = "{self.apps.url}"
poll_interval = "1h"

[clusters.demo]
kubeconfig = "{kubeconfig}"

[[tokens]]
name = "dashboard"
role = "viewer"
token_env = "TN_VIEWER"

[[tokens]]
name = "alice"
role = "admin"
token_env = "TN_ADMIN"
"""
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRUENORTH_")}
        env.update(TN_VIEWER=VIEWER, TN_ADMIN=ADMIN)
        self.server = ServerProcess(["--config", str(config)], env=env, log=tmp / "server.log")
        self.artifacts = Path(os.environ.get("TRUENORTH_TEST_ARTIFACTS") or tmp / "screenshots")
        self.artifacts.mkdir(parents=True, exist_ok=True)

    def stack(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.server.get_json(f"/api/v1/stacks/{name}?repository=infra", token=ADMIN)
        return found

    def wait_state(
        self, name: str, sync_state: str, *, revision: str | None = None, repository: str = "infra"
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            path = f"/api/v1/stacks/{name}?repository={repository}"
            response = self.server.request("GET", path, token=ADMIN)
            if response.status_code != 200:
                return None
            view: dict[str, Any] = response.json()
            if view["sync_state"] != sync_state:
                return None
            if revision is not None and revision not in (view["applied_revision"], view["desired_revision"]):
                return None
            return view

        try:
            return wait_for(reached, what=f"{name} {sync_state}", interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- server log ---\n{self.server.logs()[-6000:]}") from None

    def shot(self, page: Any, name: str) -> None:
        target = self.artifacts / f"{name}.png"
        page.screenshot(path=str(target), full_page=True)
        assert target.read_bytes()[:4] == b"\x89PNG"
        print(f"screenshot: {target}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    found = World(tmp_path_factory.mktemp("ui"))
    found.server.start()
    try:
        found.wait_state("network", "pending-approval")
        found.wait_state("hosts", "pending-approval")
        found.wait_state("web", "pending-approval", repository="apps")
        print(f"UI screenshots in {found.artifacts}")
        yield found
    finally:
        found.server.terminate()
        found.kube.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if playwright_api is None:
        pytest.fail("the web UI tests need the playwright package: pip install -e '.[dev]' (make setup)")
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def admin(browser: Any, world: World) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, world, ADMIN)
    yield page
    context.close()


def log_in(page: Any, world: World, token: str) -> None:
    page.goto(world.server.url + "/")
    page.fill("input[name=token]", token)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#logout", state="visible")


def rows(page: Any) -> Any:
    return page.locator("#stacks tbody tr")


def test_login_overview_filter_back_and_a_refused_spec(admin: Any, world: World) -> None:
    page = admin
    expect = playwright_api.expect
    expect(rows(page)).to_have_count(3)
    assert "alice (admin)" in page.text_content("#who")
    # Counts per state, the refused truenorth.yaml of the other repository, prominently.
    expect(page.locator("#counts")).to_contain_text("3 stacks")
    expect(page.locator("#counts")).to_contain_text("pending-approval")
    errors = page.locator("#source-errors")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("Repository broken:")
    expect(errors).to_contain_text("unknown value 'nope'")
    # The hostile commit subject is text in the pending column: no element of it exists.
    expect(page.locator("#stacks .subject").first).to_have_text(HOSTILE_SUBJECT)
    assert page.locator("#stacks img, #stacks script").count() == 0
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    world.shot(page, "overview")
    # Filter by engine through the form: the URL says so, and back returns to the full list.
    page.select_option("#filter-engine", "ansible")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"engine=ansible"))
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("hosts")
    page.go_back()
    expect(rows(page)).to_have_count(3)
    page.go_forward()
    expect(rows(page)).to_have_count(1)
    # Text filter by deep link.
    page.goto(world.server.url + "/#/stacks?q=netw")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("network")


def test_deep_links_show_the_pending_plans_as_diffs(admin: Any, world: World) -> None:
    page = admin
    expect = playwright_api.expect
    page.goto(world.server.url + "/#/stacks/infra/network")
    plan = page.locator("#plan")
    expect(plan).to_contain_text("terraform_data.vpc")
    expect(plan.locator(".badge.create")).to_have_count(1)
    expect(plan.locator("tr", has=page.locator("td.field", has_text=re.compile("^input$")))).to_contain_text(
        "10.0.0.0/16"
    )
    expect(page.locator("#stack-facts")).to_contain_text("pending-approval")
    world.shot(page, "stack-terraform")
    page.goto(world.server.url + "/#/stacks/infra/hosts")
    expect(page.locator("#plan h4")).to_have_text("Host web1")
    expect(page.locator("#plan")).to_contain_text("managed file")
    expect(page.locator("#plan")).to_contain_text("managed by truenorth")
    world.shot(page, "stack-ansible")
    page.go_back()
    expect(page.locator("#stack-title")).to_have_text("infra / network")
    # Kubernetes: per object, created ones whole; the Secret's value never on the page.
    page.goto(world.server.url + "/#/stacks/apps/web")
    plan = page.locator("#plan")
    expect(plan).to_contain_text("web-config")
    config_map = plan.locator(".change", has_text="ConfigMap")
    expect(config_map.locator(".badge.create")).to_have_count(1)
    expect(config_map).to_contain_text("hello from the ui test")
    expect(plan.locator(".change", has_text="Secret")).to_have_count(1)
    assert SECRET_VALUE not in page.content()
    world.shot(page, "stack-kubernetes")


def test_a_viewer_sees_no_buttons_and_is_refused_anyway(browser: Any, world: World) -> None:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        log_in(page, world, VIEWER)
        page.goto(world.server.url + "/#/stacks/infra/network")
        playwright_api.expect(page.locator("#plan")).to_contain_text("terraform_data.vpc")
        assert page.locator("#stack-view button").count() == 0
        assert page.locator("#actions").is_hidden()
        status = page.evaluate(
            """async () => {
                const session = await (await fetch('/api/v1/session')).json();
                const answer = await fetch('/api/v1/stacks/network/approve?repository=infra', {
                    method: 'POST', headers: {'X-CSRF-Token': session.csrf_token}});
                return answer.status;
            }"""
        )
        assert status == 403
        world.shot(page, "viewer")
    finally:
        context.close()


def test_the_page_fits_420_pixels(browser: Any, world: World) -> None:
    context = browser.new_context(viewport={"width": 420, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        log_in(page, world, ADMIN)
        playwright_api.expect(rows(page)).to_have_count(3)
        assert page.evaluate("document.documentElement.scrollWidth") <= 420
        world.shot(page, "overview-420")
        page.goto(world.server.url + "/#/stacks/infra/network")
        playwright_api.expect(page.locator("#plan")).to_contain_text("terraform_data.vpc")
        assert page.evaluate("document.documentElement.scrollWidth") <= 420
        world.shot(page, "stack-420")
    finally:
        context.close()


def test_approve_watch_it_live_then_roll_back(admin: Any, browser: Any, world: World) -> None:
    page = admin
    expect = playwright_api.expect
    # Another tab keeps the overview open: its row must turn synced by itself (events).
    watcher_context = browser.new_context()
    watcher_context.set_default_timeout(TIMEOUT_MS)
    watcher = watcher_context.new_page()
    log_in(watcher, world, ADMIN)
    network_row = watcher.locator("#stacks tbody tr", has_text="network")
    expect(network_row).to_contain_text("pending-approval")

    page.goto(world.server.url + "/#/stacks/infra/network")
    page.click("#actions button:has-text('Approve')")
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#confirm-ok")
    page.wait_for_url(re.compile(r"#/runs/\d+$"))
    expect(page.locator("#log")).to_contain_text("Apply complete")
    expect(page.locator("#log-state")).to_have_text("(run ended)")
    expect(page.locator("#run-facts")).to_contain_text("succeeded")
    world.shot(page, "apply-log")
    expect(network_row).to_contain_text("synced")
    world.wait_state("network", "synced", revision=world.first)

    # A second revision arrives (the loop polls every second) and is approved the same way.
    second = world.infra.commit("wider network", {"stacks/network/main.tf": terraform("10.1.0.0/16")})
    world.wait_state("network", "pending-approval", revision=second)
    page.goto(world.server.url + "/#/stacks/infra/network")
    expect(page.locator("#plan .badge.update, #plan .badge.replace")).to_have_count(1)
    page.click("#actions button:has-text('Approve')")
    page.click("#confirm-ok")
    page.wait_for_url(re.compile(r"#/runs/\d+$"))
    expect(page.locator("#log-state")).to_have_text("(run ended)")
    world.wait_state("network", "synced", revision=second)
    assert world.stack("network")["applied_revision"] == second

    # Roll back to the first revision, with a reason, from the history.
    page.goto(world.server.url + "/#/stacks/infra/network")
    button = page.locator(f"#history button:has-text('Roll back to {world.first[:12]}')")
    button.click()
    page.fill("#reason", "the wider network broke routing")
    page.click("#confirm-ok")
    page.wait_for_url(re.compile(r"#/runs/\d+$"))
    expect(page.locator("#log-state")).to_have_text("(run ended)")
    expect(page.locator("#run-facts")).to_contain_text("the wider network broke routing")
    world.shot(page, "rollback")

    def rolled_back() -> bool:
        return bool(world.stack("network")["applied_revision"] == world.first)

    wait_for(rolled_back, what="network rolled back")
    page.goto(world.server.url + "/#/stacks/infra/network")
    expect(page.locator("#history")).to_contain_text("why: the wider network broke routing")
    watcher_context.close()


def test_refresh_and_logout(admin: Any, world: World) -> None:
    page = admin
    expect = playwright_api.expect
    page.goto(world.server.url + "/#/stacks/apps/web")  # Kubernetes: the quickest plan here
    page.click("#actions button:has-text('Refresh')")
    page.click("#confirm-ok")
    page.wait_for_url(re.compile(r"#/runs/\d+$"))
    expect(page.locator("#run-title")).to_contain_text("plan of")
    expect(page.locator("#log-state")).to_have_text("(run ended)")
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    assert page.evaluate("fetch('/api/v1/stacks').then(r => r.status)") == 401


def test_every_ui_action_has_a_cli_verb(world: World, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from truenorth.cli import main

    runner = CliRunner()
    server = ["--server", world.server.url, "--token", ADMIN]
    shown = runner.invoke(main.app, ["plan", "show", "hosts", "--repository", "infra", *server])
    assert shown.exit_code == 0, shown.output
    assert "Plan of infra/hosts" in shown.stdout and "managed file" in shown.stdout
    as_json = runner.invoke(
        main.app, ["plan", "show", "hosts", "--repository", "infra", "-o", "json", *server]
    )
    assert as_json.exit_code == 0 and '"changes"' in as_json.stdout

    refreshed = runner.invoke(main.app, ["refresh", "hosts", "--repository", "infra", "--wait", *server])
    assert refreshed.exit_code == 0, refreshed.output
    run_id = re.search(r"queued as run (\d+)", refreshed.stdout)
    assert run_id is not None
    logs = runner.invoke(main.app, ["logs", run_id.group(1), *server])
    assert logs.exit_code == 0 and "managed file" in logs.stdout, logs.output
    followed = runner.invoke(main.app, ["logs", run_id.group(1), "--follow", *server])
    assert followed.exit_code == 0 and followed.stdout == logs.stdout

    unknown = runner.invoke(main.app, ["history", "--stack", "NOSUCH", *server])
    assert unknown.exit_code == 1 and "no stack named 'NOSUCH'" in unknown.stderr
    known = runner.invoke(main.app, ["history", "--stack", "hosts", *server])
    assert known.exit_code == 0 and "hosts" in known.stdout
    local = runner.invoke(main.app, ["history", "--stack", "NOSUCH", "--data-dir", str(tmp_path)])
    assert local.exit_code == 1 and "no stack named 'NOSUCH'" in local.stderr
    assert runner.invoke(main.app, ["refresh", "hosts"]).exit_code == 1  # needs --server

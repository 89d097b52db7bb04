"""The web UI: its static files and headers, and what a real browser shows (case 17).

The unit tests serve the page, script and style from the app over the fake controller
and check the Content-Security-Policy, the media types, that no secret is in them and
that the script never turns API values into HTML. One test starts a real
``truenorth serve`` on a real Git repository whose commit subject is HTML, lets the real
Terraform stack converge, and loads the page in headless Chromium: the subject must show
as text, and no element of it may exist in the DOM.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import ADMIN, SECRETS, WEBHOOK_SECRET, bearer
from tests.server.processes import ServerProcess, wait_for
from tests.support.browser import PNG_SIGNATURE, Chromium
from tests.support.gitrepos import GitRepo
from truenorth.server.ui import CONTENT_SECURITY_POLICY

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("server")]

EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
FILES = {
    "/": "text/html",
    "/ui/app.js": "text/javascript",
    "/ui/app.css": "text/css",
}
HOSTILE_SUBJECT = "<img src=x onerror=alert(1)> <script>alert(2)</script>"


class Elements(HTMLParser):
    """Every start tag of a document with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


# ---- the static files ----------------------------------------------------------------


def test_the_policy_is_the_strict_one() -> None:
    assert CONTENT_SECURITY_POLICY == EXPECTED_CSP


@pytest.mark.parametrize(("path", "media_type"), FILES.items())
def test_files_are_served_without_token_with_csp(
    shared_client: TestClient, path: str, media_type: str
) -> None:
    response = shared_client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["content-security-policy"] == EXPECTED_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content
    for secret in SECRETS:
        assert secret not in response.text


def test_the_api_still_needs_a_token(shared_client: TestClient) -> None:
    assert shared_client.get("/api/v1/stacks").status_code == 401
    answer = shared_client.get("/api/v1/stacks", headers=bearer(ADMIN))
    assert answer.status_code == 200
    assert "content-security-policy" not in answer.headers  # the policy is the page's, not the API's


def test_only_the_three_files_are_served(shared_client: TestClient) -> None:
    for path in ("/ui/", "/ui/index.html", "/ui/../ui.py", "/ui/other.js", "/static/app.js"):
        assert shared_client.get(path).status_code == 404, path
    # A query string picks nothing: the handlers take no parameters.
    assert shared_client.get("/ui/app.js", params={"filename": "index.html"}).text.startswith("// truenorth")
    paths = shared_client.get("/api/v1/openapi.json").json()["paths"]
    assert "/" not in paths
    assert "/ui/app.js" not in paths


def test_page_has_no_inline_script_or_style(shared_client: TestClient) -> None:
    page = parse(shared_client.get("/").text)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [{"src": "/ui/app.js", "defer": None}]
    assert all(tag != "style" for tag, _ in page.tags)
    for tag, attrs in page.tags:
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith("on")], tag
    sheets = [attrs["href"] for tag, attrs in page.tags if tag == "link" and attrs.get("rel") == "stylesheet"]
    assert sheets == ["/ui/app.css"]
    password = [attrs for tag, attrs in page.tags if tag == "input" and attrs.get("id") == "token"]
    assert password and password[0]["type"] == "password"


def test_script_never_writes_html(shared_client: TestClient) -> None:
    script = shared_client.get("/ui/app.js").text
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("//"))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in code, sink
    assert "textContent" in script
    assert "history.replaceState" in script  # the token leaves the address bar
    assert "sessionStorage" in script and "localStorage" not in script
    # Links are '#' anchors with click handlers, never built from API values.
    assert re.findall(r'setAttribute\("href", ([^)]*)\)', script) == ['"#"']


def test_hidden_parts_stay_hidden(shared_client: TestClient) -> None:
    # The page shows and hides the login form and sections with the `hidden` attribute;
    # an author rule like `form { display: flex }` would otherwise override it.
    assert "[hidden] { display: none !important; }" in shared_client.get("/ui/app.css").text


# ---- a real browser against a real server ---------------------------------------------------------


def test_browser_shows_stack_and_escapes_commit_subject(tmp_path: Path) -> None:
    chromium = Chromium(tmp_path / "chromium")  # fails clearly when chromium is missing
    repo = GitRepo(tmp_path / "infra")
    sha = repo.commit(
        HOSTILE_SUBJECT,
        {
            "truenorth.yaml": "stacks:\n  - name: network\n    engine: terraform\n"
            "    path: stacks/network\n    auto_apply: true\n",
            "stacks/network/main.tf": 'resource "terraform_data" "vpc" {\n  input = "10.0.0.0/16"\n}\n',
        },
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUENORTH_")}
    env.update(TRUENORTH_TOKEN=ADMIN, TRUENORTH_WEBHOOK_SECRET=WEBHOOK_SECRET)
    args = [
        "--repo", repo.url, "--listen", "127.0.0.1:0", "--poll-interval", "1h",
        "--data-dir", str(tmp_path / "data"),
    ]  # fmt: skip
    server = ServerProcess(args, env=env, log=tmp_path / "server.log").start()
    try:
        view = server.wait_synced("network", sha, token=ADMIN)
        assert view["applied_commit"]["subject"] == HOSTILE_SUBJECT
        url = f"{server.url}/#token={ADMIN}"
        dom = chromium.dump_dom(url)
        shot = chromium.screenshot(url, tmp_path / "ui.png")
    finally:
        server.terminate()

    assert "network" in dom
    assert ">synced<" in dom
    assert f'title="{sha}"' in dom
    assert f">{sha[:12]}<" in dom
    # The subject is text: escaped in the serialized DOM, and no element of it exists.
    assert "&lt;img src=x onerror=alert(1)&gt; &lt;script&gt;alert(2)&lt;/script&gt;" in dom
    assert "<script>alert" not in dom
    assert '<img src="x"' not in dom
    page = parse(dom)
    assert not [attrs for tag, attrs in page.tags if tag == "img"]
    assert [attrs.get("src") for tag, attrs in page.tags if tag == "script"] == ["/ui/app.js"]
    assert HOSTILE_SUBJECT in "".join(page.text)
    assert ADMIN not in dom  # the token is used, never shown
    # The page loaded the data (not the login form) and shows no error.
    assert 'id="login" hidden' in dom
    assert 'id="message" role="status" hidden' in dom

    data = shot.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000
    print(f"web UI screenshot: {shot}")


def test_browser_shows_a_refused_truenorth_yaml(tmp_path: Path) -> None:
    # The repository's only revision is refused: no stack exists, and the page must still
    # say why nothing happens (before, only /api/v1/repositories did).
    chromium = Chromium(tmp_path / "chromium")
    repo = GitRepo(tmp_path / "infra")
    repo.commit("broken spec", {"truenorth.yaml": "stacks:\n  - name: network\n    engine: nope\n"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUENORTH_")}
    env.update(TRUENORTH_TOKEN=ADMIN, TRUENORTH_WEBHOOK_SECRET=WEBHOOK_SECRET)
    args = [
        "--repo", repo.url, "--listen", "127.0.0.1:0", "--poll-interval", "1h",
        "--data-dir", str(tmp_path / "data"),
    ]  # fmt: skip
    server = ServerProcess(args, env=env, log=tmp_path / "server.log").start()
    try:

        def refused() -> dict[str, str] | None:
            [found] = server.get_json("/api/v1/repositories", token=ADMIN)["items"]
            return (
                {"repository": found["name"], "source_error": found["source_error"]}
                if found["source_error"]
                else None
            )

        shown = wait_for(refused, what="the refused revision")
        page = server.get_json("/api/v1/stacks", token=ADMIN)
        dom = chromium.dump_dom(f"{server.url}/#token={ADMIN}")
    finally:
        server.terminate()

    assert page["items"] == []
    assert page["source_errors"] == [shown]
    error = shown["source_error"]
    assert "is invalid and was not applied" in error and "unknown value 'nope'" in error
    assert '<ul id="source-errors">' in dom  # shown, not hidden
    text = "".join(parse(dom).text)
    assert f"Repository {shown['repository']}: " in text
    for line in error.splitlines():
        assert line in text
    assert 'id="message" role="status" hidden' in dom

"""The web UI: its static files and headers, and what a real browser shows (case 17).

The unit tests serve the page, script and style from the app over the fake controller
and check the Content-Security-Policy, the media types, that no secret is in them and
that the script never turns API values into HTML, and that nothing is loaded from
another origin. What a real browser shows is tested in ``tests/ui/`` (Chromium through
Playwright, a real ``truenorth serve``).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import ADMIN, SECRETS, bearer
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
    "/api/v1/docs": "text/html",
    "/ui/docs.js": "text/javascript",
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


def test_only_the_ui_files_are_served(shared_client: TestClient) -> None:
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
    # The token is typed into the login form and posted once: never stored, never in a URL.
    for store in ("sessionStorage", "localStorage", "document.cookie", "token="):
        assert store not in code, store
    # Every link is made by route(), which encodes each part into this page's fragment.
    assert set(re.findall(r'setAttribute\("href", ([a-z]+)\(', script)) == {"route"}
    assert len(re.findall(r'setAttribute\("href"', script)) == len(
        re.findall(r'setAttribute\("href", route\(', script)
    )
    assert (
        'let hash = "#/" + parts.map(function (part) { return encodeURIComponent(String(part)); })' in script
    )


@pytest.mark.parametrize("path", FILES)
def test_nothing_is_loaded_from_another_origin(shared_client: TestClient, path: str) -> None:
    text = shared_client.get(path).text
    assert "http://" not in text and "https://" not in text and "//cdn" not in text, path


def test_the_docs_page_is_ours_and_lists_the_api(shared_client: TestClient) -> None:
    page = parse(shared_client.get("/api/v1/docs").text)
    assert [attrs.get("src") for tag, attrs in page.tags if tag == "script"] == ["/ui/docs.js"]
    script = shared_client.get("/ui/docs.js").text
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("//"))
    assert "/api/v1/openapi.json" in code and "innerHTML" not in code


def test_hidden_parts_stay_hidden(shared_client: TestClient) -> None:
    # The page shows and hides the login form and sections with the `hidden` attribute;
    # an author rule like `form { display: flex }` would otherwise override it.
    assert "[hidden] { display: none !important; }" in shared_client.get("/ui/app.css").text

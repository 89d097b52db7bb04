"""The merge-request comment: snapshots of the Markdown, hostile text kept inert, the size caps.

The plans are the engines' own, read from recorded engine output (the same fixtures as
the CLI's plan snapshots in ``tests/tables``). Hostile text is checked by rendering the
comment with a CommonMark renderer (markdown-it, HTML allowed as forges allow it) and
looking at the HTML a reader would get.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from markdown_it import MarkdownIt

from tests.support import snapshots
from tests.tables import test_plan_text as fixtures
from truenorth.core import outputs, plans
from truenorth.forges import comments

HEAD = comments.Revision(
    sha="4f2c9e1a7b3d5c6e8f9a0b1c2d3e4f5a6b7c8d9e", ref="feature", subject="Add a subnet and its hosts"
)
BASE = comments.Revision(sha="0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", ref="main")


def preview() -> comments.Preview:
    network = dataclasses.replace(fixtures.terraform_plan("plan-changes"), stack="network")
    hosts = dataclasses.replace(fixtures.ansible_plan(), stack="hosts")
    web = dataclasses.replace(fixtures.kubernetes_plan(), stack="web")
    waiting = plans.Plan(
        stack="dns",
        engine="terraform",
        revision=HEAD.sha,
        changes=(),
        summary=plans.PlanSummary(),
        inputs=(outputs.InputValue(ref=outputs.InputRef("zone", "network", "zone_id"), known=False),),
    )
    return comments.Preview(
        repository="infra",
        base=BASE,
        head=HEAD,
        stacks=(
            comments.StackPreview("network", "terraform", plan=network),
            comments.StackPreview("hosts", "ansible", plan=hosts, after=("network",)),
            comments.StackPreview("web", "kubernetes", plan=web),
            comments.StackPreview("dns", "terraform", plan=waiting, after=("network",)),
            comments.StackPreview("db", "terraform", error="Error: Invalid reference\n  on main.tf line 3"),
        ),
        skipped=(
            comments.Skipped("monitoring", "unchanged between the base and the head"),
            comments.Skipped("cache", "depends on db, which failed"),
        ),
        link="https://truenorth.example.com/",
    )


def test_the_comment_for_three_engines_as_rendered() -> None:
    snapshots.check("merge-request-comment", comments.render(preview()))


def test_the_comment_when_nothing_is_affected() -> None:
    empty = comments.Preview(
        repository="infra",
        base=BASE,
        head=HEAD,
        stacks=(),
        skipped=(comments.Skipped("network", "unchanged"),),
    )
    snapshots.check("merge-request-comment-empty", comments.render(empty))


def html_of(markdown: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def test_hostile_names_subjects_and_diffs_stay_text() -> None:
    evil = "</details><img src=x onerror=alert(1)>[x](javascript:alert(1)) @org/admins | col"
    change = plans.Change(
        address=f"terraform_data.a{evil}",
        action=plans.Action.CREATE,
        after={"v": "```\n</details><script>alert(1)</script>"},
    )
    plan = plans.Plan(
        stack=evil,
        engine="terraform",
        revision=HEAD.sha,
        changes=(change,),
        summary=plans.summarize([change]),
    )
    hostile = comments.Preview(
        repository=evil,
        base=BASE,
        head=dataclasses.replace(HEAD, ref=evil, subject=evil + "\n\n# heading"),
        stacks=(comments.StackPreview(evil, "terraform", plan=plan, after=(evil,)),),
        skipped=(comments.Skipped(evil, evil),),
        link="https://tn.example.com/> [y](javascript:alert(2))",
    )
    rendered = html_of(comments.render(hostile))
    assert "<img" not in rendered and "<script" not in rendered
    assert 'href="javascript' not in rendered
    assert "<h1>" not in rendered, "a newline in a subject starts no heading"
    assert rendered.count("<details>") == rendered.count("</details>") == 2, "no section is closed early"
    assert rendered.count("<table>") == 1 and rendered.count("<td>") == 4, "a | in a name adds no cell"
    outside_code = re.sub(r"<pre>.*?</pre>", "", rendered, flags=re.DOTALL)
    assert "@org" not in outside_code, "no mention (code blocks mention nobody)"


def test_a_backtick_run_in_a_diff_cannot_close_its_block() -> None:
    block = comments.fenced("a\n````\nb")
    assert block.startswith("`````\n") and block.endswith("\n`````\n")
    assert html_of(block).count("<pre>") == 1


@pytest.mark.parametrize("forge", ["github", "gitea", "gitlab"])
def test_a_huge_plan_is_cut_to_the_limit_with_a_note_never_silently(forge: str) -> None:
    limit = comments.LIMITS[forge]
    big = [
        plans.Change(
            address=f"terraform_data.item[{i}]", action=plans.Action.CREATE, after={"value": "x" * 150}
        )
        for i in range(2000)
    ]
    plan = plans.Plan(
        stack="big", engine="terraform", revision=HEAD.sha, changes=tuple(big), summary=plans.summarize(big)
    )
    stacks = (
        comments.StackPreview("big", "terraform", plan=plan),
        comments.StackPreview("after-big", "terraform", plan=dataclasses.replace(plan, stack="after-big")),
    )
    text = comments.render(dataclasses.replace(preview(), stacks=stacks), limit=limit)
    assert len(text) <= limit
    assert text.startswith(comments.MARKER)
    full = len("\n".join(comments._diff_lines(plan)))
    if full * 2 < limit:
        assert "not shown" not in text
    else:
        assert "Cut: " in text and f"the comment limit is {limit:,} characters" in text
        assert "not shown (the comment limit" in text and "after\\-big" in text
        assert html_of(text).count("<details>") == html_of(text).count("</details>"), "still well formed"


def test_a_limit_too_small_for_any_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="comment limit"):
        comments.render(preview(), limit=100)

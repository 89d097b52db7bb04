"""Before/after values as the CLI prints them when no engine text exists (:mod:`truenorth.cli.diffs`)."""

from __future__ import annotations

from truenorth.cli import diffs


def rendered(before: object, after: object, *, name: str = "") -> list[str]:
    return [line.render() for line in diffs.attribute_lines(before, after, name=name)]


def test_a_new_map_key_is_an_addition_not_a_change_from_null() -> None:
    assert rendered({"tags": {"a": "1"}}, {"tags": {"a": "1", "b": "2"}}) == [
        "~ tags = {",
        '    + b = "2"',
        "      # (1 unchanged attribute hidden)",
        "  }",
    ]
    assert rendered({"x": None}, {"x": "v"}) == ['+ x = "v"']
    assert rendered({"x": "v"}, {"x": None}) == ['- x = "v"']


def test_a_change_deep_inside_a_long_value_is_shown_whatever_its_length() -> None:
    """Both sides were one JSON line cut at 200 characters, identical to the eye."""
    long = [f"item-{n:03}" for n in range(300)]
    changed = [*long[:250], "CHANGED", *long[251:]]
    lines = rendered({"spec": {"a": {"b": long}}}, {"spec": {"a": {"b": changed}}})
    assert '            ~ "item-250" -> "CHANGED",' in lines
    assert "              # (299 unchanged elements hidden)" in lines


def test_a_long_added_value_folds_with_the_count_of_hidden_lines() -> None:
    lines = rendered(None, {"items": list(range(100))})
    assert lines[0] == "+ items = ["
    assert len(lines) == 31
    assert lines[-1] == "      # (72 more lines hidden)"  # 102 lines: 30 shown


def test_scalars_lists_and_outputs_print_with_their_values() -> None:
    assert rendered(None, "eu-1", name="region") == ['+ region = "eu-1"']
    assert rendered("eu-1", "eu-2", name="region") == ['~ region = "eu-1" -> "eu-2"']
    assert rendered(None, ["a", "b"], name="zones") == ["+ zones = [", '    + "a",', '    + "b",', "  ]"]
    assert rendered("(sensitive value)", "(sensitive value)", name="token") == ["~ token = (sensitive value)"]
    assert rendered({"id": "x"}, {"id": "(known after apply)"}) == ['~ id = "x" -> (known after apply)']


def test_unknown_after_a_map_keeps_the_before_multi_line() -> None:
    assert rendered({"out": {"k": "v"}}, {"out": "(known after apply)"}) == [
        "~ out = {",
        '    - k = "v"',
        "  } -> (known after apply)",
    ]


def test_multi_line_strings_and_odd_keys() -> None:
    assert rendered(None, {"user-data": "a\nb", "a.b": 1}) == [
        '+ "a.b"     = 1',
        "+ user-data = <<-EOT",
        "    + a",
        "    + b",
        "  EOT",
    ]

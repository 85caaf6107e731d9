"""Hostile config.yaml: each gives one clear line with its place, fast, and never a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamafile_ls import yaml_document
from llamafile_ls.config_file import load_config
from llamafile_ls.config_yaml import MAX_YAML_BYTES, parse_config_yaml
from llamafile_ls.errors import ConfigError

GOOD_MODEL = "models:\n  - name: m\n    provider: llamafile\n"


def refused(text: str) -> ConfigError:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        parse_config_yaml(text, "config.yaml")
    assert time.monotonic() - started < 5
    error = caught.value
    assert "\n" not in str(error)
    assert "Traceback" not in str(error)
    return error


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels + 1):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return GOOD_MODEL + "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly_at_its_line() -> None:
    error = refused(billion_laughs())
    assert "the aliases (*name) expand to more than 100000 values" in error.reason
    assert error.line is not None and error.line > 3


def test_an_alias_bomb_in_a_value_that_is_used_is_refused_too() -> None:
    text = billion_laughs().replace("models:\n  - name: m\n    provider: llamafile\n", "")
    text += "models:\n  - name: m\n    llamaCppArgs: {x: *j}\n"
    assert "expand to more than" in refused(text).reason


def test_merges_that_grow_at_each_step_are_refused_quickly() -> None:
    lines = ["m0: &m0 {k0: 0}"] + [f"m{i}: &m{i} {{<<: *m{i - 1}, k{i}: {i}}}" for i in range(1, 2000)]
    error = refused(GOOD_MODEL + "\n".join(lines) + "\n")
    assert "the merges (<<:) copy more than 100000 keys" in error.reason
    assert error.line is not None and error.line > 400


def test_a_few_shared_anchors_are_fine() -> None:
    shared = "".join(f"  - name: m{i}\n    requestOptions: *o\n" for i in range(200))
    config = parse_config_yaml(f"opts: &o {{timeout: 9, verifySsl: false}}\nmodels:\n{shared}", "c.yaml")
    assert len(config.models) == 200 and config.models[199].request_options.timeout == 9


@pytest.mark.parametrize(
    "text", ["[" * 100_000, "a:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 500)), "- " * 50_000 + "x"]
)
def test_deep_nesting_is_refused_at_the_level_it_passes(text: str) -> None:
    error = refused(text)
    assert f"nested more than {yaml_document.MAX_DEPTH} levels deep" in error.reason
    assert error.line is not None


def test_aliases_cannot_deepen_nesting_past_the_limit() -> None:
    lines = ["a0: &a0 [1]"]
    for index in range(1, 200):
        lines.append(f"a{index}: &a{index} [[[[*a{index - 1}]]]]")
    error = refused("\n".join(lines) + "\n")
    assert "through its aliases, the YAML is nested more than" in error.reason


def test_a_huge_file_is_refused_before_parsing() -> None:
    error = refused(GOOD_MODEL + "# " + "x" * MAX_YAML_BYTES + "\n")
    assert "the most llamafile-ls reads of a config.yaml is 1024 KB" in error.reason


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("models:\n\t- name: m\n", 2, 1, "YAML indents with spaces, never tabs"),
        ("models: []\nmodels: []\n", 2, 1, "the key 'models' is written twice in this mapping (first on line 1)"),
        ("models:\n  - name: a\n    name: b\n", 3, 5, "the key 'name' is written twice"),
        ("? [a, b]\n: c\n" + GOOD_MODEL, 1, 3, "a key must be text, not a list or a mapping"),
        (
            "x: !!python/object:os.system echo\n" + GOOD_MODEL,
            1,
            4,
            "the YAML tag !!python/object:os.system is not allowed",
        ),
        (
            "!!python/object/apply:os.system [echo]\n",
            1,
            1,
            "the YAML tag !!python/object/apply:os.system is not allowed",
        ),
        (GOOD_MODEL + "x: !!python/name:os.system ''\n", 4, 4, "is not allowed in a config"),
        (GOOD_MODEL + "x: !!set {a, b}\n", 4, 4, "the YAML tag !!set is not allowed"),
        (GOOD_MODEL + "x: !Ref y\n", 4, 4, "the YAML tag !Ref is not allowed"),
        (GOOD_MODEL + "---\nmodels: []\n", 4, 1, "more than one YAML document"),
        (GOOD_MODEL + "x: &a [*a]\n", 4, 8, "the alias *a refers to a value that contains it"),
        (GOOD_MODEL + "x: *nothing\n", 4, 4, "the alias *nothing refers to no anchor"),
        (GOOD_MODEL + "x: .nan\n", 4, 4, ".nan is not a finite number"),
        (GOOD_MODEL + "x: 1e999\n", 4, 4, "a number too large to represent"),
        (GOOD_MODEL + "x: " + "9" * 5000 + "\n", 4, 4, "has too many digits"),
        (GOOD_MODEL + "x: !!int abc\n", 4, 4, "'abc' is not a value of type !!int"),
        (GOOD_MODEL + 'x: "unclosed\n', 5, 1, "invalid YAML"),
        ("models: [a, b\n", 2, 1, "invalid YAML"),
        ("models:\n  - name: m\n   provider: x\n", 3, 4, "invalid YAML"),
        (GOOD_MODEL + "x: <<\n<<: 5\n", 5, 5, "a merge (<<:) takes a mapping"),
    ],
)
def test_hostile_yaml_gives_one_line_with_its_place(text: str, line: int, column: int, words: str) -> None:
    error = refused(text)
    assert words in error.reason
    assert (error.line, error.column) == (line, column)


def test_keys_that_are_numbers_or_booleans_are_their_text() -> None:
    config = parse_config_yaml(
        "models:\n  - name: m\n    requestOptions:\n      headers:\n        8080: a\n        True: b\n        0x1F: c\n        ~: d\n",
        "c.yaml",
    )
    assert config.models[0].request_options.headers == {"8080": "a", "True": "b", "0x1F": "c", "~": "d"}


def test_yes_and_no_stay_text_as_in_yaml_1_2() -> None:
    config = parse_config_yaml("models:\n  - name: no\n    model: yes\n    provider: llamafile\n", "c.yaml")
    assert (config.models[0].title, config.models[0].model) == ("no", "yes")


def test_a_bom_and_crlf_and_a_lone_cr_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xef\xbb\xbfmodels:\r\n  - name: m\r\n    provider: llamafile\r\n    apiBase: 42\r\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert (caught.value.line, caught.value.column) == (4, 14)
    path.write_bytes(b"\xef\xbb\xbfmodels:\r  - name: m\r    provider: llamafile\r")
    assert load_config(str(path)).models[0].title == "m"


def test_a_bom_left_in_an_editor_buffer_is_harmless() -> None:
    assert parse_config_yaml("\ufeff" + GOOD_MODEL, "c.yaml").models[0].title == "m"


def test_a_utf16_yaml_file_with_a_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(("\ufeff" + GOOD_MODEL).encode("utf-16"))
    assert load_config(str(path)).models[0].title == "m"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("ab: -[]{}&*!|>'\"#\n\t,?<~%@`\\0.9")), max_size=200))
def test_any_text_is_a_config_or_one_config_error(text: str) -> None:
    try:
        parse_config_yaml(GOOD_MODEL + text, "c.yaml")
    except ConfigError as error:
        assert "\n" not in str(error)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_unicode_text_is_a_config_or_one_config_error(text: str) -> None:
    try:
        parse_config_yaml(text, "c.yaml")
    except ConfigError as error:
        assert "\n" not in str(error)

"""The documentation keeps up with the code: the API reference documents every public name,
the generated command-line reference every option of every command, the tutorial page every
departure from the tutorial, and the README's commands are CI's. No Sphinx build here (the
site's build, `python -m sphinx -W ...`, checks links and docstrings)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import calspike
from calspike import config

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
AUTODOC = re.compile(
    r"^\.\. auto(?:function|class|exception|data):: calspike\.(\w+)\s*$", re.MULTILINE
)


def _cli_extension():
    """docs/_ext/calspike_cli.py, the renderer of the command-line reference (needs no Sphinx)."""
    path = DOCS / "_ext" / "calspike_cli.py"
    spec = importlib.util.spec_from_file_location("calspike_cli", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_documents_every_public_name_once():
    documented = AUTODOC.findall((DOCS / "api.md").read_text())
    missing = sorted(set(calspike.__all__) - set(documented))
    assert not missing, f"docs/api.md does not document: {', '.join(missing)}"
    twice = sorted({name for name in documented if documented.count(name) > 1})
    assert not twice, f"docs/api.md documents more than once: {', '.join(twice)}"
    unknown = sorted(set(documented) - set(calspike.__all__))
    assert not unknown, (
        f"docs/api.md documents names outside calspike.__all__: {', '.join(unknown)}"
    )


def test_the_command_line_reference_lists_every_setting_of_every_command():
    cli = _cli_extension()
    whole = cli.render_cli_reference()
    for command, names in config.COMMANDS.items():
        text = cli.render_command(command)
        assert f".. _cli-{command}:" in whole, command
        assert text in whole, command
        options = set(re.findall(r"^\.\. option:: (--[\w-]+)", text, re.MULTILINE))
        for name in names:
            flag = "--" + name.replace("_", "-")
            assert flag in options, (
                f"calspike {command} {flag} is missing from the command-line reference"
            )
            assert f"config file: ``{name}``" in text, (command, name)


def test_the_command_line_reference_shows_each_commands_own_defaults():
    cli = _cli_extension()
    for command, profiles in (
        ("run", ("run",)),
        ("prepare", ()),
        ("train-rate", ("train-rate",)),
        ("score", ("score",)),
    ):
        text = cli.render_command(command)
        for name, value in config.defaults(config.COMMANDS[command], *profiles).items():
            if config.SETTINGS[name].type is bool:
                continue
            shown = "none" if value in (None, "") else str(value)
            block = text.split(f".. option:: --{name.replace('_', '-')} ", 1)[1].split(
                ".. option::", 1
            )[0]
            assert (f"default: ``{shown}``" if shown != "none" else "default: none") in block, (
                command,
                name,
            )


def test_the_tutorial_page_states_every_departure_with_its_effect():
    from calspike.tutorial.departures import DEPARTURES

    page = (DOCS / "tutorial-report.md").read_text()
    section = page.split("## Departures from the tutorial", 1)[1].split("\n## ", 1)[0]
    flat = " ".join(section.split())
    for d in DEPARTURES:
        assert f"**{d.topic}.**" in flat, d.topic
        for text in (d.tutorial, d.calspike, d.why, d.effect, d.in_tutorial_mode):
            assert " ".join(text.split()) in flat, (d.topic, text)


def test_the_readme_links_only_to_what_exists_and_to_every_page():
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert [t for t in local if not (ROOT / t).exists()] == []
    pages = {p.relative_to(ROOT).as_posix() for p in [*DOCS.glob("*.md"), *DOCS.glob("*.rst")]}
    assert sorted(pages - set(local)) == []


def _quick_start(readme: str) -> list[str]:
    """The lines inside the code fences of the README's "## Quick start" section.

    Read as .ci/run reads them.
    """
    section, fenced, lines = False, False, []
    for line in readme.splitlines():
        if line.startswith("## "):
            section = line == "## Quick start"
        elif section and line.startswith("```"):
            fenced = not fenced
        elif section and fenced and line.strip():
            lines.append(line)
    return lines


def test_the_quick_start_is_the_two_commands_ci_runs():
    assert _quick_start((ROOT / "README.md").read_text()) == [
        "pip install . && calspike run",
        'pip install ".[test]" && pytest',
    ]
    ci = ROOT / ".ci" / "run"
    if ci.is_file():  # a source distribution has no .ci
        assert '"## Quick start"' in ci.read_text()  # CI runs what the README says, read from it

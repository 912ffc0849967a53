"""The command-line reference, generated when the site is built.

Every option of every ``calspike`` command comes from ``calspike.config.SETTINGS`` (its type,
unit, allowed values, default and help) through the same argparse parser the ``calspike``
command builds, so the reference cannot disagree with ``calspike COMMAND --help``. Nothing
generated is committed.

``render_cli_reference()`` (and ``render_command(name)``) return reStructuredText; the
directive ``.. calspike-cli::`` parses it into the page. tests/test_docs.py calls the
functions directly, without Sphinx (which only ``setup`` imports).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

USAGE_WIDTH = 72
# the order of the settings' groups on a command's page (config.GROUPS' order)
GROUP_ORDER = (
    "windows",
    "tutorial models",
    "toy VAE",
    "spike-rate model",
    "inference",
    "data",
    "machine",
    "",
)


def _parsers() -> tuple[
    argparse.ArgumentParser, dict[str, argparse.ArgumentParser], dict[str, str]
]:
    """The ``calspike`` parser, its commands' parsers and each command's one-line help.

    The commands come in the parser's order.
    """
    from calspike.cli.dispatch import calspike_parser as _parser

    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {action.dest: action.help or "" for action in commands._choices_actions}
    return parser, dict(commands.choices), helps


def _inline(text: str) -> str:
    """Help text as reStructuredText: `code` spans become literals, the rest is escaped."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 2:
            out.append(f"``{part[1:-1]}``")
        else:
            out.append(re.sub(r"([\\*_|`\[\]])", r"\\\1", part))
    return "".join(out)


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(prog=parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip()


def _signature(action: argparse.Action) -> str:
    """What the option directive names: ``-o OUTPUT, --output OUTPUT``, ``--quick`` or ``input``."""
    if not action.option_strings:
        return action.metavar or action.dest
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = action.metavar or action.dest.upper()
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    if action.choices is not None and action.metavar is None:
        metavar = "{" + ",".join(map(str, action.choices)) + "}"
    return ", ".join(f"{option} {metavar}" for option in action.option_strings)


def _setting_line(setting: Any, action: argparse.Action) -> str:
    """One line under the option: type (and unit), allowed values, this command's default, TOML key.

    The allowed values and the default are read from the help that
    ``cli.options.add_arguments`` wrote (``Setting.describe``), so they are the ones
    ``calspike COMMAND --help`` prints.
    """
    described = action.help or ""
    body, _, default = described.rpartition("; default: ")
    allowed = body.rpartition("; allowed: ")[2] if "; allowed: " in body else ""
    if setting.type is bool:
        parts = ["*flag*", f"default: {default}"]
    else:
        kind = setting.type.__name__ + (f" ({setting.unit})" if setting.unit else "")
        if setting.choices:
            values = " | ".join(f"``{choice}``" for choice in setting.choices)
            parts = [f"*{kind}*", f"one of {values}"]
        else:
            parts = [f"*{kind}*", f"allowed: {_inline(allowed)}"]
        parts.append(
            f"default: ``{default}``" if default and default != "none" else "default: none"
        )
    parts.append(f"config file: ``{setting.name}``")
    return "; ".join(parts)


def _sentence(text: str, keep_case: tuple[str, ...] = ()) -> str:
    """Help text as a sentence: capitalised, with one full stop.

    Text that starts with a value or a ``name:`` keeps its case.
    """
    text = text.strip()
    first = re.split(r"[\s(,]", text, maxsplit=1)[0]
    if text and not first.endswith(":") and first not in keep_case:
        text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _option(action: argparse.Action, lines: list[str], setting: Any = None) -> None:
    lines += [f".. option:: {_signature(action)}", ""]
    if setting is not None:
        keep = (*setting.choices, *setting.items, "auto")
        lines += [
            f"   {_inline(_sentence(setting.help, keep))}",
            "",
            f"   {_setting_line(setting, action)}",
            "",
        ]
        return
    text = action.help or ""
    lines += [f"   {_inline(_sentence(text))}", ""] if text else []
    default = action.default
    if (
        action.option_strings
        and action.nargs != 0
        and default not in (None, argparse.SUPPRESS, [])
        and "default" not in text
    ):
        lines += [f"   default: ``{default}``", ""]
    if not action.option_strings and action.nargs in ("*", "+"):
        lines += ["   " + ("None or more." if action.nargs == "*" else "One or more."), ""]


def render_command(name: str) -> str:
    """The reference of ``calspike NAME``: usage, arguments, options, then its settings by group."""
    from calspike import config

    _, parsers, helps = _parsers()
    parser = parsers[name]
    title = f"``calspike {name}``"
    lines = [f".. _cli-{name}:", "", title, "-" * len(title), ""]
    if helps.get(name):
        lines += [f"*{_inline(helps[name][0].upper() + helps[name][1:])}.*", ""]
    if parser.description:
        lines += [_inline(parser.description), ""]
    lines += (
        [".. code-block:: text", ""] + [f"   {line}" for line in _usage(parser).splitlines()] + [""]
    )
    lines += [f".. program:: calspike {name}", ""]
    setting_names = set(config.COMMANDS.get(name, ()))
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    positionals = [a for a in actions if not a.option_strings]
    options = [a for a in actions if a.option_strings and a.dest not in setting_names]
    settings = {a.dest: a for a in actions if a.option_strings and a.dest in setting_names}
    if positionals:
        lines += [".. rubric:: Arguments", ""]
        for action in positionals:
            _option(action, lines)
    if options:
        lines += [".. rubric:: Options", ""]
        for action in options:
            _option(action, lines)
    groups: dict[str, list[str]] = {}
    for setting_name in config.COMMANDS.get(name, ()):
        groups.setdefault(config.SETTINGS[setting_name].group, []).append(setting_name)
    for group in sorted(
        groups, key=lambda g: GROUP_ORDER.index(g) if g in GROUP_ORDER else len(GROUP_ORDER)
    ):
        lines += [f".. rubric:: Settings: {group or 'other'}", ""]
        for setting_name in groups[group]:
            _option(settings[setting_name], lines, config.SETTINGS[setting_name])
    return "\n".join(lines) + "\n"


def render_cli_reference() -> str:
    """The whole reference: the options every command shares, then one section per command."""
    parser, parsers, helps = _parsers()
    lines = [".. program:: calspike", ""]
    lines += (
        [".. code-block:: text", ""] + [f"   {line}" for line in _usage(parser).splitlines()] + [""]
    )
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            lines += ["The commands:", ""]
            lines += [
                f"- :ref:`calspike {command} <cli-{command}>`: {_inline(helps.get(command, ''))}"
                for command in parsers
            ]
            lines.append("")
            continue
        _option(action, lines)
    for command in parsers:
        lines += [render_command(command), ""]
    return "\n".join(lines)


def setup(app: Any) -> dict[str, Any]:
    """Register ``.. calspike-cli::``.

    Sphinx is imported here only: the tests need just the text.
    """
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective
    from sphinx.util.nodes import nested_parse_with_titles

    class CalspikeCli(SphinxDirective):
        """``.. calspike-cli::``: the generated reference, parsed as reStructuredText."""

        has_content = False

        def run(self) -> list[nodes.Node]:
            import calspike.cli
            import calspike.config

            # rebuild the page when the declarations, the commands or this renderer change
            for path in (
                *Path(calspike.config.__file__).parent.glob("*.py"),
                *Path(calspike.cli.__file__).parent.glob("*.py"),
                __file__,
            ):
                self.env.note_dependency(str(path))
            source = self.get_source_info()[0] or "calspike_cli"
            text = StringList(render_cli_reference().splitlines(), source=f"{source} (generated)")
            container = nodes.section()
            container.document = self.state.document
            nested_parse_with_titles(self.state, text, container)
            return list(container.children)

    app.add_directive("calspike-cli", CalspikeCli)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

"""A newcomer's map: every module is named in the README's Layout tree, and the
package docstring says where each step of a row's way happens.

The README's "Layout" tree (under "## Development") lists the modules of
``src/upload_preds`` in the order a row travels, one line each (a line may name
several, ``a.py, b.py``; a sub-package's modules are indented under it). A new
module that is not named there fails :func:`test_every_module_is_named_in_the_readme_layout`,
and a line naming a module that no longer exists fails
:func:`test_the_readme_layout_names_no_module_that_is_gone`.

``UNMAPPED`` holds the modules still to be added to the tree (the lead edits
the tree at merge time); an entry that the tree names now fails too, so the
list only shrinks.
"""

from __future__ import annotations

import re
from pathlib import Path

import upload_preds

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "upload_preds"
README = ROOT / "README.md"

#: Modules not yet in the README's Layout tree (none: every module is mapped).
UNMAPPED: set[str] = set()

#: Package plumbing, not modules a reader looks for.
_PLUMBING = {"__init__.py", "__main__.py"}


def _layout_block(text: str) -> str:
    """The fenced block after the "Layout, in the order a row travels" line."""
    start = text.index("Layout, in the order a row travels")
    fence = text.index("```\n", start) + len("```\n")
    return text[fence : text.index("```", fence)]


def named_in_layout(text: str) -> set[str]:
    """The paths (relative to ``src/upload_preds/``) that the Layout tree names.

    A line's name column is what comes before the first run of two spaces; a
    name ending in ``/`` opens a sub-package for the lines indented under it.
    The tree of ``src/upload_preds/`` ends at the first line that is not
    indented (``tests/``, ``bench/``).
    """
    named: set[str] = set()
    dirs: list[tuple[int, str]] = []  # (indent, "pkg/") of the open sub-packages
    for line in _layout_block(text).splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            if stripped == "src/upload_preds/":
                continue
            break
        column = re.split(r"\s{2,}", stripped)[0]
        if not re.fullmatch(r"[\w./]+(, [\w./]+)*", column):
            continue  # a description carried over to the next line
        while dirs and dirs[-1][0] >= indent:
            dirs.pop()
        prefix = "".join(d for _, d in dirs)
        names = column.split(", ")
        named.update(prefix + n for n in names)
        if len(names) == 1 and column.endswith("/"):
            dirs.append((indent, column))
    return named


def _modules() -> set[str]:
    return {p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if p.name not in _PLUMBING}


def test_every_module_is_named_in_the_readme_layout() -> None:
    named = named_in_layout(README.read_text(encoding="utf-8"))
    unmapped = _modules() - named
    assert unmapped == UNMAPPED, (
        f"not in the README's Layout tree: {sorted(unmapped - UNMAPPED)}; "
        f"mapped now, drop from UNMAPPED: {sorted(UNMAPPED - unmapped)}"
    )


def test_the_readme_layout_names_no_module_that_is_gone() -> None:
    named = named_in_layout(README.read_text(encoding="utf-8"))
    gone = {n for n in named if n.endswith(".py") and not (SRC / n).is_file()}
    assert not gone, gone


def test_the_layout_reader_sees_sub_packages_and_shared_lines() -> None:
    # The reader itself, on a small tree: a sub-package's modules under it, a
    # shared line's names each, a carried-over description ignored.
    text = (
        "Layout, in the order a row travels:\n\n```\nsrc/upload_preds/\n"
        "  cli.py           the app\n"
        "  readers/         rows\n"
        "    jsonl.py, csv.py   parsers\n"
        "                     (more words: see notes.py)\n"
        "  run.py           one run\n"
        "tests/             the tests\n"
        "  not_src.py       not in the tree\n```\n"
    )
    assert named_in_layout(text) == {
        "cli.py",
        "readers/",
        "readers/jsonl.py",
        "readers/csv.py",
        "run.py",
    }


def test_the_package_docstring_maps_each_step_of_a_row_to_modules_that_exist() -> None:
    doc = upload_preds.__doc__ or ""
    steps = {}
    for line in doc.splitlines():
        m = re.match(r"    (read|convert|group|resolve|plan|upload|record)\s{2,}(.*)", line)
        if m:
            steps[m.group(1)] = m.group(2)
    assert set(steps) == {"read", "convert", "group", "resolve", "plan", "upload", "record"}
    # Module and package names are lower case ("JSONL/JSON" is not a path).
    for name in re.findall(r"\b[a-z_/]+\.py|\b[a-z_]+/", doc):
        assert (SRC / name).exists(), f"the package docstring names {name}, which is gone"
    # Where a format and a task type go.
    assert "formats/" in doc
    assert "LABEL_FAMILIES" in doc

"""Named C templates (``templates/*``) and the one function that fills them.

As in :mod:`lutnn.hdl.templates`: a template is C text with ``{{name}}`` holes; :func:`render`
fills every hole from its keyword arguments and refuses missing or unused ones.  Big templates
are one file each (``prelude.c``, ``header.h``...); one-line snippets (a word operation, a
signal assignment) live in ``templates/snippets.c`` after ``//@ name`` marker lines.  The
Python side only computes values (signal indices, constants); all C syntax is in the templates.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_HOLE = re.compile(r"\{\{(\w+)\}\}")


@functools.cache
def _snippets() -> dict[str, str]:
    text = resources.files("lutnn.csrc").joinpath("templates/snippets.c").read_text()
    parts = re.split(r"^//@ (\w+)\n", text, flags=re.MULTILINE)
    assert parts[0].strip() == "", "snippets.c must start with a //@ marker"
    return {name: body.rstrip("\n") for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@functools.cache
def template(name: str) -> str:
    """The text of template ``name``: a snippet, or the file ``templates/<name>``."""
    snippets = _snippets()
    if name in snippets:
        return snippets[name]
    path = resources.files("lutnn.csrc").joinpath(f"templates/{name}")
    if not path.is_file():
        raise KeyError(f"no C template named {name!r}")
    return path.read_text().rstrip("\n")


def render(name: str, /, **values: object) -> str:
    """Fill template ``name``'s holes from ``values`` (each converted with ``str``).

    Example:
        >>> render("and", a="t0", b="s[3]")
        '(t0 & s[3])'
    """
    text = template(name)
    holes = set(_HOLE.findall(text))
    missing, unused = holes - values.keys(), values.keys() - holes
    if missing or unused:
        raise KeyError(f"C template {name!r}: missing {sorted(missing)}, unused {sorted(unused)}")
    return _HOLE.sub(lambda m: str(values[m.group(1)]), text)

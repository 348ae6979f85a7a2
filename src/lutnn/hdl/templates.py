"""Named Verilog templates (``templates/*.v``) and the one function that fills them.

A template is Verilog text with ``{{name}}`` holes; :func:`render` fills every hole from its
keyword arguments and refuses missing or unused ones, so a typo cannot emit broken HDL.  Big
templates are one file each; one-line snippets live in ``templates/snippets.v`` after
``//@ name`` marker lines.  The Python side only computes values (indices, widths, constants);
all Verilog syntax is in the templates.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_HOLE = re.compile(r"\{\{(\w+)\}\}")


@functools.cache
def _snippets() -> dict[str, str]:
    text = resources.files("lutnn.hdl").joinpath("templates/snippets.v").read_text()
    parts = re.split(r"^//@ (\w+)\n", text, flags=re.MULTILINE)
    assert parts[0].strip() == "", "snippets.v must start with a //@ marker"
    return {name: body.rstrip("\n") for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@functools.cache
def template(name: str) -> str:
    """The text of template ``name``: a snippet, or ``templates/<name>.v``."""
    snippets = _snippets()
    if name in snippets:
        return snippets[name]
    path = resources.files("lutnn.hdl").joinpath(f"templates/{name}.v")
    if not path.is_file():
        raise KeyError(f"no HDL template named {name!r}")
    return path.read_text().rstrip("\n")


def render(name: str, /, **values: object) -> str:
    """Fill template ``name``'s holes from ``values`` (each converted with ``str``).

    Example:
        >>> render("assign", lhs="y[0]", rhs="x[1]")
        '  assign y[0] = x[1];'
    """
    text = template(name)
    holes = set(_HOLE.findall(text))
    missing, unused = holes - values.keys(), values.keys() - holes
    if missing or unused:
        raise KeyError(f"template {name!r}: missing {sorted(missing)}, unused {sorted(unused)}")
    return _HOLE.sub(lambda m: str(values[m.group(1)]), text)

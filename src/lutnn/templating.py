"""Named text templates with ``{{name}}`` holes, shared by the Verilog and C back ends.

A :class:`Templates` set reads big templates from ``<package>/templates/<name><suffix>`` and
one-line snippets from ``<package>/templates/<snippets>`` after ``//@ name`` marker lines.
:meth:`Templates.render` fills every hole from its keyword arguments and refuses missing or
unused ones, so a typo cannot emit broken text.  The Python side only computes values
(indices, widths, constants); all syntax of the target language lives in the templates.
A leaf module (standard library only): every package may import it.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_HOLE = re.compile(r"\{\{(\w+)\}\}")


class Templates:
    """The templates of one back end.

    Args:
        package: the package whose ``templates/`` folder holds them (``"lutnn.hdl"``).
        snippets: the snippet file's name in that folder (``"snippets.v"``).
        suffix: appended to a template's name to find its file (``".v"``, or ``""``).
        kind: names the back end in error messages (``"HDL"``, ``"C"``).
    """

    def __init__(self, package: str, snippets: str, suffix: str, kind: str) -> None:
        self.package, self.snippets, self.suffix, self.kind = package, snippets, suffix, kind
        self.template = functools.cache(self._template)

    @functools.cached_property
    def _snippets(self) -> dict[str, str]:
        text = resources.files(self.package).joinpath(f"templates/{self.snippets}").read_text()
        parts = re.split(r"^//@ (\w+)\n", text, flags=re.MULTILINE)
        assert parts[0].strip() == "", f"{self.snippets} must start with a //@ marker"
        return {name: body.rstrip("\n") for name, body in zip(parts[1::2], parts[2::2],
                                                                 strict=True)}

    def _template(self, name: str) -> str:
        """The text of template ``name``: a snippet, or the file ``templates/<name><suffix>``."""
        if name in self._snippets:
            return self._snippets[name]
        path = resources.files(self.package).joinpath(f"templates/{name}{self.suffix}")
        if not path.is_file():
            raise KeyError(f"no {self.kind} template named {name!r}")
        return path.read_text().rstrip("\n")

    def render(self, name: str, /, **values: object) -> str:
        """Fill template ``name``'s holes from ``values`` (each converted with ``str``)."""
        text = self.template(name)
        holes = set(_HOLE.findall(text))
        missing, unused = holes - values.keys(), values.keys() - holes
        if missing or unused:
            raise KeyError(f"{self.kind} template {name!r}: missing {sorted(missing)}, "
                           f"unused {sorted(unused)}")
        return _HOLE.sub(lambda m: str(values[m.group(1)]), text)

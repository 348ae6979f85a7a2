"""Named Verilog templates (``templates/*.v``, snippets in ``templates/snippets.v``).

See :mod:`lutnn.templating`: ``render(name, **values)`` fills a template's ``{{name}}`` holes
and refuses missing or unused ones, so a typo cannot emit broken HDL; all Verilog syntax is in
the templates.

Example:
    >>> render("assign", lhs="y[0]", rhs="x[1]")
    '  assign y[0] = x[1];'
"""

from __future__ import annotations

from lutnn.templating import Templates

_TEMPLATES = Templates("lutnn.hdl", "snippets.v", ".v", "HDL")
template = _TEMPLATES.template
render = _TEMPLATES.render

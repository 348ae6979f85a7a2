"""Named C templates (``templates/*``: ``prelude.c``, ``header.h``...; one-line snippets such
as a word operation or a signal assignment in ``templates/snippets.c``).

See :mod:`lutnn.templating`: ``render(name, **values)`` fills a template's ``{{name}}`` holes
and refuses missing or unused ones; all C syntax is in the templates.

Example:
    >>> render("and", a="t0", b="s[3]")
    '(t0 & s[3])'
"""

from __future__ import annotations

from lutnn.templating import Templates

_TEMPLATES = Templates("lutnn.csrc", "snippets.c", "", "C")
template = _TEMPLATES.template
render = _TEMPLATES.render

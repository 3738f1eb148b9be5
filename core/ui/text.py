"""Data written into Markdown: the one escaping helper every page and core/ui module uses.

``st.markdown``, ``st.caption``, ``st.info``/``warning``/``error``/``success``, ``st.toast``,
widget labels and ``help=`` tooltips all render Markdown. A label value, a queue, suite or
SLA name, an event field, an alert summary or a username comes from whoever can write to
the store (an API token, a watched file, an exporter), so written in unescaped it could pull
a remote image into everyone's browser (``![x](http://evil/x.png)`` — a tracking pixel), put
a link on the page (``[click](http://evil)``), or restyle the text around it. Every such
value goes through :func:`md_escape` before it is interpolated; the text around it, written
by us, keeps its Markdown.
"""

from __future__ import annotations

import re
import string

# CommonMark lets any ASCII punctuation be backslash-escaped, and an escaped character is
# always literal text: escaping them all covers emphasis, code, links, images, autolinks
# (www., http:, e-mail @), headings, lists, tables, HTML, and Streamlit's own :material/…:
# icons, :red[…] colours and $…$ maths, without a list of "special" characters to keep current.
_ESCAPES = str.maketrans({char: "\\" + char for char in string.punctuation} | {"\r": " ", "\n": " "})


def md_escape(text: object) -> str:
    """``text`` (any value; ``str()`` is taken) as Markdown that renders exactly as that text, on one line.

    Every ASCII punctuation character is backslash-escaped, so nothing in it can start a
    link, an image, emphasis, code, HTML, a heading or a list item; line breaks become
    spaces, since the value is written into one line of a sentence. Emoji short codes such
    as ``:smile:`` may still render as the emoji (Streamlit matches them after escapes are
    read): harmless, and there is no visible way to stop it.
    """
    return str(text).translate(_ESCAPES)


_ESCAPED = re.compile(r"\\([" + re.escape(string.punctuation) + r"])")


def md_plain(markdown: str) -> str:
    """What an escaped Markdown string such as a widget title reads as: backslash escapes of punctuation removed.

    For the places that need the text itself rather than Markdown (a chart's text alternative,
    a Vega description), so ``dod\\_validation`` reads as ``dod_validation`` and is not escaped twice.
    """
    return _ESCAPED.sub(r"\1", markdown)


__all__ = ["md_escape", "md_plain"]

"""SQL syntax highlighting for the site, from sqlglot's tokenizer (token types, character offsets).

``highlight_sql(sql, links)`` returns HTML: the SQL text exactly (escaped), with each token wrapped in
``<span class="…">`` by its kind (keyword, type, function, identifier, string, number, operator,
comment) and every identifier that names a relation in ``links`` turned into a link to its page.
The text between tokens (whitespace and comments) is kept as written, comments marked.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

_COMMENT = re.compile(r"--[^\n]*|/\*.*?(?:\*/|$)", re.S)


@cache
def _classes() -> tuple[Any, frozenset[Any], frozenset[Any], frozenset[Any], frozenset[str]]:
    """The dialect's tokenizer and the token types of each class (computed once)."""
    from sqlglot.dialects.duckdb import DuckDB
    from sqlglot.parser import Parser
    from sqlglot.tokens import TokenType

    dialect = DuckDB()
    strings = frozenset(
        t
        for t in (
            TokenType.STRING,
            TokenType.NATIONAL_STRING,
            TokenType.RAW_STRING,
            TokenType.BIT_STRING,
            TokenType.HEX_STRING,
            TokenType.BYTE_STRING,
            TokenType.HEREDOC_STRING,
        )
    )
    names = frozenset((TokenType.VAR, TokenType.IDENTIFIER))
    types = frozenset(Parser.TYPE_TOKENS)
    keywords = frozenset(k.upper() for k in dialect.tokenizer_class.KEYWORDS)
    return dialect, strings, names, types, keywords


def _gap(text: str) -> str:
    """Text between two tokens: whitespace and comments (marked)."""
    out, last = [], 0
    for m in _COMMENT.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        out.append(f'<span class="c">{html.escape(m.group(0))}</span>')
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _kind(token: Any, nxt: Any, classes: tuple[Any, ...]) -> str:
    """CSS class of one token: k keyword, t type, f function, n name, s string, m number, o operator."""
    from sqlglot.tokens import TokenType

    _, strings, names, types, keywords = classes
    if token.token_type in strings:
        return "s"
    if token.token_type == TokenType.NUMBER:
        return "m"
    if token.token_type in names:
        return "f" if nxt is not None and nxt.token_type == TokenType.L_PAREN else "n"
    if not token.text[:1].isalpha():
        return "o"
    if token.token_type in types:
        return "t"
    return "k" if token.text.upper() in keywords or token.token_type not in names else "n"


def highlight_sql(sql: str, links: Mapping[str, str] | None = None) -> str:
    """``sql`` as highlighted HTML; identifiers naming a key of ``links`` link to its value (a URL).

    Text the tokenizer cannot read is returned escaped but unhighlighted (never an error: the
    site shows every model, even one whose SQL does not parse).
    """
    from sqlglot.errors import SqlglotError

    classes = _classes()
    try:
        tokens = classes[0].tokenize(sql)
    except (SqlglotError, ValueError):
        return html.escape(sql)
    links = links or {}
    out, last = [], 0
    for i, token in enumerate(tokens):
        start, end = token.start, token.end + 1
        if start < last or end > len(sql):  # offsets that do not fit the text: give up gracefully
            return html.escape(sql)
        out.append(_gap(sql[last:start]))
        text = sql[start:end]
        kind = _kind(token, tokens[i + 1] if i + 1 < len(tokens) else None, classes)
        body = html.escape(text)
        target = links.get(token.text) if kind == "n" else None
        if target is not None:
            out.append(f'<a class="n ref" href="{html.escape(target)}">{body}</a>')
        else:
            out.append(f'<span class="{kind}">{body}</span>')
        last = end
    out.append(_gap(sql[last:]))
    return "".join(out)


__all__ = ["highlight_sql"]

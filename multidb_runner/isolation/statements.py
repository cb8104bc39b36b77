"""
Tell from the text of a SQL statement whether it may write, and to which tables.

The selective flush (``flushing.py``) empties only the tables that tests
wrote, so this reading must never miss a write. It is built to err one way
only: whatever it cannot prove read-only and cannot pin to named tables
is reported as writing the whole database ("whole"), which costs a full
flush, never isolation. In particular:

- a statement is read-only only if it starts with a read-only keyword and
  contains no write keyword outside literals;
- a write keyword inside a string, a comment or a quoted name makes the
  statement "whole", so that a mistake of the tokenizer (an escape it got
  wrong) cannot hide a write;
- every write keyword must be followed by a name the grammar below
  understands, or the statement is "whole";
- function calls are listed, so that a call to a database function that
  writes can be caught once the database's functions are known.

Only the text is read here; which names are real tables, and which tables
have triggers, is the database's answer (``side_effects.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

#: Statements that do not change table contents, by their first keyword.
READ_ONLY_HEADS = frozenset(
    {
        "select", "with", "values", "table", "show", "explain", "describe", "desc", "pragma",
        "set", "reset", "begin", "start", "commit", "end", "rollback", "savepoint", "release",
        "prepare", "deallocate", "declare", "fetch", "move", "close", "listen", "unlisten",
        "notify", "discard", "analyze", "analyse", "vacuum", "checkpoint", "lock", "unlock",
    }
)  # fmt: skip
#: Statements that change the schema: anything may have changed.
SCHEMA_HEADS = frozenset(
    {
        "create", "alter", "drop", "rename", "comment", "grant", "revoke", "reindex",
        "cluster", "refresh", "attach", "detach", "import", "security",
    }
)  # fmt: skip
#: Words that make a statement write, or run code that may.
WRITE_WORDS = ("insert", "update", "delete", "merge", "replace", "truncate", "copy", "into", "call", "execute", "exec")
WRITE_WORD_PATTERN = re.compile(r"(?<![\w$])(?:" + "|".join(WRITE_WORDS) + r")(?![\w$])", re.IGNORECASE)
#: A name followed by "(": a function call, a column list or a keyword; a superset of calls.
CALL_PATTERN = re.compile(r'([A-Za-z_][\w$]*|"[^"]+"|`[^`]+`)\s*\(')
LEADING_WORD = re.compile(r"[\s(]*([A-Za-z_]+)")

#: Modifiers that may stand between a write keyword and its table.
INSERT_MODIFIERS = frozenset(
    {"low_priority", "delayed", "high_priority", "ignore", "or", "replace", "rollback", "abort", "fail"}
)
UPDATE_MODIFIERS = frozenset({"low_priority", "ignore", "only", "or", "replace", "rollback", "abort", "fail"})
DELETE_MODIFIERS = frozenset({"low_priority", "quick", "ignore"})
#: Words before UPDATE/DELETE/INSERT that make it a clause, not a statement:
#: FOR UPDATE, FOR NO KEY UPDATE, ON DUPLICATE KEY UPDATE, DO UPDATE, MERGE's THEN UPDATE.
CLAUSE_PREFIXES = frozenset({"for", "key", "do", "then", "on"})
#: Words after DELETE FROM's table that mean several tables (MySQL).
JOINS = frozenset({"join", "inner", "left", "right", "cross", "natural", "straight_join"})


class UnreadableStatement(ValueError):
    """The tokenizer met something it does not understand."""


@dataclass(frozen=True)
class TableName:
    """A table name as written: its dotted parts, each with whether it was quoted."""

    parts: tuple[str, ...]
    quoted: tuple[bool, ...]

    def __str__(self) -> str:
        return ".".join(f'"{part}"' if quoted else part for part, quoted in zip(self.parts, self.quoted, strict=True))


@dataclass(frozen=True)
class StatementEffect:
    """What a statement may do to table contents."""

    #: Tables it may write.
    tables: frozenset[TableName] = frozenset()
    #: Why it may have written anywhere (None: only ``tables``).
    whole: str | None = None
    #: It may have changed the schema (tables, triggers): look again.
    schema_change: bool = False
    #: Lower-cased names it may call as functions.
    calls: frozenset[str] = field(default=frozenset())

    @property
    def writes(self) -> bool:
        return bool(self.tables) or self.whole is not None


@dataclass(frozen=True)
class Token:
    """A piece of SQL: ``word`` (bare), ``name`` (quoted), ``literal``, ``comment`` or ``symbol``."""

    kind: str
    text: str

    @property
    def word(self) -> str:
        """The lower-cased keyword, or "" if this is not a bare word."""
        return self.text.lower() if self.kind == "word" else ""


# Tokenizing -------------------------------------------------------------------

# Non-ASCII characters as [^\x00-\x7f]: the same as a range up to \uffff
# (and beyond it), without the milliseconds such a range costs to compile.
BARE_WORD = re.compile(r"(?:[A-Za-z_]|[^\x00-\x7f])(?:[\w$]|[^\x00-\x7f])*")
NUMBER = re.compile(r"\d[\w.]*")
DOLLAR_TAG = re.compile(r"\$(?:(?:[A-Za-z_]|[^\x00-\x7f])(?:\w|[^\x00-\x7f])*)?\$")
#: The opening of a MySQL (``/*!``, ``/*!50000``) or MariaDB (``/*M!100100``) executable comment.
EXECUTABLE_COMMENT = re.compile(r"/\*M?!\d*")


def tokenize(sql: str, dialect: str, executable_comments: bool = False) -> list[Token]:
    """
    Split ``sql`` into tokens, following ``dialect``'s quoting rules.

    Raises UnreadableStatement on an unterminated literal or comment, and
    on MySQL's executable comments (``/*! ... */``, ``/*!50000 ... */``,
    ``/*M! ... */``), whose text runs, unless ``executable_comments`` asks
    for their text as the server runs it: tokens of the statement.
    """
    tokens: list[Token] = []
    position, length = 0, len(sql)
    in_executable_comment = False
    while position < length:
        char = sql[position]
        rest = sql[position : position + 2]
        if char.isspace():
            position += 1
        elif in_executable_comment and rest == "*/":
            in_executable_comment = False
            position += 2
        elif rest == "--" or (char == "#" and dialect == "mysql"):
            end = sql.find("\n", position)
            end = length if end == -1 else end
            tokens.append(Token("comment", sql[position:end]))
            position = end
        elif rest == "/*":
            if dialect == "mysql" and (marker := EXECUTABLE_COMMENT.match(sql, position)):
                if not executable_comments or in_executable_comment:
                    raise UnreadableStatement("executable comment")
                # Whatever version it names: a server older than that reads a comment, which costs a false alarm.
                in_executable_comment = True
                position = marker.end()
                continue
            end = block_comment_end(sql, position, nested=dialect == "postgresql")
            tokens.append(Token("comment", sql[position:end]))
            position = end
        elif char == "'" or (char == '"' and dialect == "mysql"):
            end = quoted_end(sql, position, char, backslashes=dialect == "mysql")
            tokens.append(Token("literal", sql[position:end]))
            position = end
        elif char in "eE" and sql[position + 1 : position + 2] == "'" and dialect == "postgresql":
            end = quoted_end(sql, position + 1, "'", backslashes=True)
            tokens.append(Token("literal", sql[position:end]))
            position = end
        elif char == '"' or (char == "`" and dialect in ("mysql", "sqlite")):
            end = quoted_end(sql, position, char, backslashes=False)
            tokens.append(Token("name", sql[position + 1 : end - 1].replace(char * 2, char)))
            position = end
        elif char == "[" and dialect == "sqlite":
            end = sql.find("]", position)
            if end == -1:
                raise UnreadableStatement("unterminated [name]")
            tokens.append(Token("name", sql[position + 1 : end]))
            position = end + 1
        elif char == "$" and dialect == "postgresql" and (tag := DOLLAR_TAG.match(sql, position)):
            end = sql.find(tag.group(), tag.end())
            if end == -1:
                raise UnreadableStatement("unterminated dollar-quoted string")
            end += len(tag.group())
            tokens.append(Token("literal", sql[position:end]))
            position = end
        elif word := BARE_WORD.match(sql, position):
            tokens.append(Token("word", word.group()))
            position = word.end()
        elif number := NUMBER.match(sql, position):
            tokens.append(Token("symbol", number.group()))
            position = number.end()
        else:
            tokens.append(Token("symbol", char))
            position += 1
    return tokens


def quoted_end(sql: str, start: int, quote: str, backslashes: bool) -> int:
    """Return the index just after the quoted text opened at ``start``."""
    position = start + 1
    while True:
        end = sql.find(quote, position)
        if end == -1:
            raise UnreadableStatement(f"unterminated {quote}")
        if backslashes:
            # An odd number of backslashes before the quote escapes it.
            backslash_count = len(sql[position:end]) - len(sql[position:end].rstrip("\\"))
            if backslash_count % 2:
                position = end + 1
                continue
        if sql[end + 1 : end + 2] == quote:
            position = end + 2
            continue
        return end + 1


def block_comment_end(sql: str, start: int, nested: bool) -> int:
    """Return the index just after the ``/* */`` comment opened at ``start``."""
    depth, position = 1, start + 2
    while depth:
        close = sql.find("*/", position)
        if close == -1:
            raise UnreadableStatement("unterminated comment")
        opening = sql.find("/*", position) if nested else -1
        if opening != -1 and opening < close:
            depth, position = depth + 1, opening + 2
        else:
            depth, position = depth - 1, close + 2
    return position


# Reading statements -------------------------------------------------------------


def classify(sql: str, dialect: str) -> StatementEffect:
    """
    Return what ``sql`` may write, for a database of ``dialect``.

    ``dialect`` is Django's ``connection.vendor``; other vendors get
    PostgreSQL's quoting rules, which only ever cost a full flush.
    """
    return cached_classify(sql, dialect)


@lru_cache(maxsize=8192)
def cached_classify(sql: str, dialect: str) -> StatementEffect:
    calls = frozenset(name.strip('"`').lower() for name in CALL_PATTERN.findall(sql))
    head = LEADING_WORD.match(sql)
    write_words = len(WRITE_WORD_PATTERN.findall(sql))
    if head and head.group(1).lower() in READ_ONLY_HEADS and not write_words and ";" not in sql:
        return StatementEffect(calls=calls)
    try:
        tokens = tokenize(sql, dialect)
    except UnreadableStatement as error:
        return StatementEffect(whole=f"unreadable statement ({error})", calls=calls)
    # Every write word of the text must be a word or a whole quoted name to
    # the tokenizer; one it placed inside a literal or comment is suspect.
    visible = sum(1 for token in tokens if token.kind in ("word", "name") and token.text.lower() in WRITE_WORDS)
    if visible != write_words:
        return StatementEffect(whole="a write keyword inside a literal, comment or quoted name", calls=calls)
    effects = [statement_effect(statement) for statement in split_statements(tokens)]
    tables = frozenset(table for effect in effects for table in effect.tables)
    whole = next((effect.whole for effect in effects if effect.whole), None)
    schema_change = any(effect.schema_change for effect in effects)
    return StatementEffect(tables=tables, whole=whole, schema_change=schema_change, calls=calls)


def split_statements(tokens: list[Token]) -> list[list[Token]]:
    """Split tokens at semicolons, dropping comments and empty statements."""
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.kind == "comment":
            continue
        if token.kind == "symbol" and token.text == ";":
            statements.append([])
        else:
            statements[-1].append(token)
    return [statement for statement in statements if statement]


def statement_effect(tokens: list[Token]) -> StatementEffect:
    """Return what one statement (no semicolons) may write."""
    head = next((token.word for token in tokens if not (token.kind == "symbol" and token.text == "(")), "")
    if head in SCHEMA_HEADS:
        return StatementEffect(whole=f"{head.upper()} statement", schema_change=True)
    if head not in READ_ONLY_HEADS and head not in WRITE_WORDS:
        return StatementEffect(whole=f"{head.upper() or 'unrecognised'} statement")
    tables: set[TableName] = set()
    index = 0
    while index < len(tokens):
        word = tokens[index].word
        if word in WRITE_WORDS:
            previous = tokens[index - 1].word if index else ""
            try:
                found = write_targets(tokens, index, previous)
            except UnreadableStatement as error:
                return StatementEffect(whole=str(error))
            tables.update(found)
        index += 1
    return StatementEffect(tables=frozenset(tables))


def write_targets(tokens: list[Token], index: int, previous: str) -> list[TableName]:
    """
    Return the tables the write keyword at ``index`` writes.

    Raises UnreadableStatement when the keyword may write but its tables
    cannot be told.
    """
    word = tokens[index].word
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    is_call = following is not None and following.kind == "symbol" and following.text == "("
    if word in ("call", "execute", "exec"):
        raise UnreadableStatement(f"{word.upper()} runs code the runner cannot see")
    if word == "into":
        # INTO consumed by INSERT/REPLACE/MERGE never reaches here as a keyword
        # of its own: this one is SELECT ... INTO, which creates or writes.
        if previous in ("insert", "replace", "merge", "ignore", "delayed", "low_priority", "high_priority"):
            return []
        if previous in INSERT_MODIFIERS:
            return []
        raise UnreadableStatement("SELECT ... INTO")
    if word in ("insert", "replace"):
        if is_call or previous in ("then", "or"):
            # INSERT()/REPLACE() functions, MERGE's THEN INSERT, INSERT OR REPLACE.
            return []
        position = skip_words(tokens, index + 1, INSERT_MODIFIERS)
        position = skip_words(tokens, position, frozenset({"into"}))
        return [read_table_name(tokens, position, word)[0]]
    if word == "update":
        if previous in CLAUSE_PREFIXES:
            return []
        position = skip_words(tokens, index + 1, UPDATE_MODIFIERS)
        name, position = read_table_name(tokens, position, word)
        position = skip_alias(tokens, position, stop=frozenset({"set"}))
        if position >= len(tokens) or tokens[position].word != "set":
            raise UnreadableStatement("UPDATE of several tables")
        return [name]
    if word == "delete":
        if previous in CLAUSE_PREFIXES:
            return []
        position = skip_words(tokens, index + 1, DELETE_MODIFIERS)
        if position >= len(tokens) or tokens[position].word != "from":
            raise UnreadableStatement("DELETE of several tables")
        position = skip_words(tokens, position + 1, frozenset({"only"}))
        name, position = read_table_name(tokens, position, word)
        after = tokens[position] if position < len(tokens) else None
        if after is not None and (after.text == "," or after.word in JOINS):
            raise UnreadableStatement("DELETE of several tables")
        return [name]
    if word == "merge":
        position = skip_words(tokens, index + 1, frozenset({"into"}))
        return [read_table_name(tokens, position, word)[0]]
    if word == "truncate":
        return truncate_targets(tokens, index)
    if word == "copy":
        return copy_targets(tokens, index)
    raise UnreadableStatement(f"{word.upper()} statement")  # pragma: no cover - WRITE_WORDS is covered above


def truncate_targets(tokens: list[Token], index: int) -> list[TableName]:
    """Return the tables of ``TRUNCATE [TABLE] [ONLY] a [*], b ...``."""
    position = skip_words(tokens, index + 1, frozenset({"table"}))
    names = []
    while True:
        position = skip_words(tokens, position, frozenset({"only"}))
        name, position = read_table_name(tokens, position, "truncate")
        names.append(name)
        if position < len(tokens) and tokens[position].text == "*":
            position += 1
        if position < len(tokens) and tokens[position].text == ",":
            position += 1
            continue
        break
    if any(token.word == "cascade" for token in tokens[position:]):
        raise UnreadableStatement("TRUNCATE ... CASCADE")
    return names


def copy_targets(tokens: list[Token], index: int) -> list[TableName]:
    """Return the table of ``COPY t [(columns)] FROM ...``; nothing for COPY ... TO."""
    position = index + 1
    if position < len(tokens) and tokens[position].text == "(":
        return []  # COPY (query) TO: reads
    name, position = read_table_name(tokens, position, "copy")
    if position < len(tokens) and tokens[position].text == "(":
        depth = 0
        while position < len(tokens):
            depth += {"(": 1, ")": -1}.get(tokens[position].text, 0)
            position += 1
            if depth == 0:
                break
    direction = tokens[position].word if position < len(tokens) else ""
    if direction == "to":
        return []
    if direction == "from":
        return [name]
    raise UnreadableStatement("COPY without FROM or TO")


def skip_words(tokens: list[Token], position: int, words: frozenset[str]) -> int:
    """Return the first position from ``position`` whose token is not one of ``words``."""
    while position < len(tokens) and tokens[position].word in words:
        position += 1
    return position


def skip_alias(tokens: list[Token], position: int, stop: frozenset[str]) -> int:
    """Skip ``[*] [AS] alias`` after a table name, unless the next word is in ``stop``."""
    if position < len(tokens) and tokens[position].text == "*":
        position += 1
    if position < len(tokens) and tokens[position].word == "as":
        position += 1
    if position < len(tokens) and tokens[position].kind in ("word", "name") and tokens[position].word not in stop:
        position += 1
    return position


def read_table_name(tokens: list[Token], position: int, keyword: str) -> tuple[TableName, int]:
    """Read ``part[.part[.part]]`` at ``position``; return it and the position after it."""
    parts: list[str] = []
    quoted: list[bool] = []
    while True:
        if position >= len(tokens) or tokens[position].kind not in ("word", "name"):
            raise UnreadableStatement(f"no table name after {keyword.upper()}")
        parts.append(tokens[position].text)
        quoted.append(tokens[position].kind == "name")
        position += 1
        if len(parts) < 3 and position + 1 < len(tokens) and tokens[position].text == ".":
            position += 1
            continue
        return TableName(tuple(parts), tuple(quoted)), position

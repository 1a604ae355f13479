"""Block parameter references: ``$name``, small integer arithmetic and conditions.

An inner node of a block may write ``$out_channels``, ``$width * 4`` or
``$out_channels // 2`` for a parameter value, and a condition such as
``not $norm_first`` or ``$depth > 2`` for whether it is enabled. The text is
read by a tokenizer and a Pratt parser into a tiny tree, never given to
``eval``: the only things an expression can do are name a block parameter,
write a whole number or ``true``/``false``, and combine them with
``+ - * // %``, unary minus, the comparisons ``== != < <= > >=``,
``not``/``and``/``or`` and parentheses.

    expr = parse("$width * 4")      # an Expr; parse errors raise ExpressionError
    expr.names                      # {'width'}
    expr.evaluate({"width": 16})    # 64
    expr.to_python({"width": "w"})  # 'w * 4' (the code generator's spelling)
    parse("not $norm_first").kind   # 'bool'

A bare reference (``$dropout``) passes the parameter's value through whatever
its type (float, bool, choice); arithmetic works on whole numbers only, ``not``,
``and`` and ``or`` on true/false only, and comparisons do not chain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nnstudio.core.errors import ParamError

PREFIX = "$"
_MAX_LENGTH = 200
_TOKEN = re.compile(
    r"\s*(?:(\d+)|\$([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*)|(//|==|!=|<=|>=|[-+*%()<>]))"
)
_WORDS = {"not", "and", "or", "true", "false", "True", "False"}
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
# Binding power of each binary operator, as in Python.
_BINARY = {
    "or": 1,
    "and": 2,
    **dict.fromkeys(_COMPARISONS, 5),
    "+": 10,
    "-": 10,
    "*": 20,
    "//": 20,
    "%": 20,
}
_NOT = 3
_UNARY = 30


class ExpressionError(ParamError):
    """An expression that does not parse, names an unknown parameter or cannot be computed."""


def is_expression(value: Any) -> bool:
    """Whether a parameter value refers to block parameters (text with a '$' in it)."""
    return isinstance(value, str) and PREFIX in value


@dataclass(frozen=True)
class Expr:
    """A parsed expression: ('num', n), ('bool', b), ('ref', name), ('neg', e), ('not', e)
    or (op, a, b)."""

    text: str
    tree: tuple

    @property
    def names(self) -> set[str]:
        found: set[str] = set()
        _walk_names(self.tree, found)
        return found

    @property
    def is_reference(self) -> bool:
        """A bare ``$name``: passes any type of value through."""
        return self.tree[0] == "ref"

    @property
    def kind(self) -> str:
        """What it computes whatever the values: 'int', 'bool', or 'any' (a bare reference)."""
        return _kind(self.tree)

    def evaluate(self, values: dict[str, Any]) -> Any:
        """The value for these parameter values; raises ExpressionError in words."""
        if self.is_reference:
            return _lookup(self.tree[1], values)
        return _eval(self.tree, values)

    def to_python(self, spelling: dict[str, str]) -> str:
        """Python source computing the same value, names spelled by ``spelling``."""
        return _source(self.tree, spelling, 0)


def parse(text: str) -> Expr:
    """Parse ``text`` (e.g. ``"$width * 4"``); raises ExpressionError naming the problem."""
    if not isinstance(text, str) or len(text) > _MAX_LENGTH:
        raise ExpressionError(f"An expression must be text of at most {_MAX_LENGTH} characters.")
    tokens = _tokenize(text)
    parser = _Parser(text, tokens)
    tree = parser.expression(0)
    if parser.position < len(tokens):
        raise ExpressionError(f"'{text}' has something unexpected after '{_show(tokens, parser.position)}'.")
    return Expr(text.strip(), tree)


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None:
            bad = stripped[position:].strip()[:1]
            hint = " (use // for whole-number division)" if bad == "/" else ""
            raise ExpressionError(
                f"'{text}' is not a parameter expression: '{bad}' is not allowed{hint}. "
                "Write $name, whole numbers, true, false, + - * // % ( ), comparisons, not, and, or."
            )
        number, name, word, op = match.groups()
        if number is not None:
            tokens.append(("num", int(number)))
        elif name is not None:
            tokens.append(("ref", name))
        elif word is not None:
            if word not in _WORDS:
                raise ExpressionError(
                    f"'{text}' is not a parameter expression: '{word}' is not a word it knows "
                    f"(write block parameters with a $, as ${word})."
                )
            tokens.append(
                ("bool", word.lower() == "true") if word.lower() in ("true", "false") else ("op", word)
            )
        else:
            tokens.append(("op", op))
        position = match.end()
    if not tokens:
        raise ExpressionError("An expression cannot be empty; write for example $out_channels.")
    return tokens


def _show(tokens: list[tuple[str, Any]], index: int) -> str:
    kind, value = tokens[index - 1] if index else tokens[0]
    if kind == "bool":
        return "true" if value else "false"
    return f"${value}" if kind == "ref" else str(value)


class _Parser:
    """Pratt parser: each operator binds by its power, so * binds before +."""

    def __init__(self, text: str, tokens: list[tuple[str, Any]]) -> None:
        self.text = text
        self.tokens = tokens
        self.position = 0

    def _next(self) -> tuple[str, Any]:
        if self.position >= len(self.tokens):
            raise ExpressionError(f"'{self.text}' ends too early; something is missing at the end.")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def _peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def expression(self, power: int) -> tuple:
        left = self._prefix()
        while True:
            token = self._peek()
            if token is None or token[0] != "op" or token[1] not in _BINARY:
                return left
            op = token[1]
            if _BINARY[op] <= power:
                return left
            self.position += 1
            right = self.expression(_BINARY[op])
            if op in _COMPARISONS and self._peek() in [("op", c) for c in _COMPARISONS]:
                raise ExpressionError(
                    f"'{self.text}' chains comparisons; join them with 'and' (a < b and b < c)."
                )
            left = (op, left, right)

    def _prefix(self) -> tuple:
        kind, value = self._next()
        if kind in ("num", "ref", "bool"):
            return (kind, value)
        if value == "not":
            return ("not", self.expression(_NOT))
        if value == "-":
            return ("neg", self.expression(_UNARY))
        if value == "+":
            return self.expression(_UNARY)
        if value == "(":
            inner = self.expression(0)
            if self._peek() != ("op", ")"):
                raise ExpressionError(f"'{self.text}' has a '(' that is never closed.")
            self.position += 1
            return inner
        raise ExpressionError(f"'{self.text}' has '{value}' where a value was expected.")


def _walk_names(tree: tuple, found: set[str]) -> None:
    if tree[0] == "ref":
        found.add(tree[1])
    elif tree[0] not in ("num", "bool"):
        for child in tree[1:]:
            _walk_names(child, found)


def _lookup(name: str, values: dict[str, Any]) -> Any:
    if name not in values:
        known = ", ".join(f"${n}" for n in values) or "none"
        raise ExpressionError(f"${name} is not a parameter of this block (its parameters: {known}).")
    return values[name]


def _kind(tree: tuple) -> str:
    op = tree[0]
    if op == "ref":
        return "any"
    if op in ("bool", "not", "and", "or", *_COMPARISONS):
        return "bool"
    return "int"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(tree: tuple, values: dict[str, Any]) -> int:
    value = _eval(tree, values)
    if isinstance(value, bool) or not isinstance(value, int):
        what = f"${tree[1]}" if tree[0] == "ref" else "a part of it"
        raise ExpressionError(f"{what} is {value!r}, not a whole number, so it cannot be used in arithmetic.")
    return value


def _truth(tree: tuple, values: dict[str, Any], op: str) -> bool:
    value = _eval(tree, values)
    if not isinstance(value, bool):
        what = f"${tree[1]}" if tree[0] == "ref" else "a part of it"
        raise ExpressionError(f"'{op}' needs true or false, but {what} is {value!r}.")
    return value


def _eval(tree: tuple, values: dict[str, Any]) -> Any:
    kind = tree[0]
    if kind in ("num", "bool"):
        return tree[1]
    if kind == "ref":
        return _lookup(tree[1], values)
    if kind == "neg":
        return -_whole(tree[1], values)
    if kind == "not":
        return not _truth(tree[1], values, "not")
    if kind in ("and", "or"):  # both sides are checked, so a bad one is found whatever the other
        a, b = _truth(tree[1], values, kind), _truth(tree[2], values, kind)
        return (a and b) if kind == "and" else (a or b)
    if kind in _COMPARISONS:
        return _compare(kind, _eval(tree[1], values), _eval(tree[2], values))
    a, b = _whole(tree[1], values), _whole(tree[2], values)
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        if abs(a) > 1 << 40 or abs(b) > 1 << 40:
            raise ExpressionError("the expression's value is too large.")
        return a * b
    if b == 0:
        raise ExpressionError("the expression divides by zero.")
    return a // b if kind == "//" else a % b


def _compare(op: str, a: Any, b: Any) -> bool:
    if op in ("==", "!="):
        same = (_is_number(a) and _is_number(b)) or type(a) is type(b)
        if not same:
            raise ExpressionError(f"'{op}' compares {a!r} with {b!r}, which are not the same kind of value.")
        return (a == b) if op == "==" else (a != b)
    if not (_is_number(a) and _is_number(b)):
        raise ExpressionError(f"'{op}' compares numbers, not {a!r} and {b!r}.")
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _source(tree: tuple, spelling: dict[str, str], outer: int) -> str:
    kind = tree[0]
    if kind in ("num", "bool"):
        return repr(tree[1])
    if kind == "ref":
        return spelling[tree[1]]
    if kind == "neg":
        return f"-{_source(tree[1], spelling, _UNARY)}"
    if kind == "not":
        text = f"not {_source(tree[1], spelling, _NOT - 1)}"
        return f"({text})" if outer >= _NOT else text
    power = _BINARY[kind]
    # The right operand binds one tighter: a - (b - c) keeps its parentheses; so does the
    # left one of a comparison, since Python would chain (a == b) == c.
    left_power = power if kind in _COMPARISONS else power - 1
    text = f"{_source(tree[1], spelling, left_power)} {kind} {_source(tree[2], spelling, power)}"
    return f"({text})" if power <= outer else text

"""How numbers and values read on the canvas and in the panels."""

from __future__ import annotations

from typing import Any


def short_count(value: int) -> str:
    """61706 -> '61.7k', 1234567 -> '1.23M'; small counts stay exact."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            scaled = value / limit
            return f"{scaled:.3g}{suffix}" if scaled < 100 else f"{scaled:.0f}{suffix}"
    return str(value)


def param_text(value: Any) -> str:
    """A parameter value as the user typed it: (1, 28, 28) -> '1, 28, 28', True -> 'yes'."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_shape(text: str) -> tuple[int, ...]:
    """'1, 28, 28' or '(1, 28, 28)' or '1x28x28' -> (1, 28, 28); ValueError with a sentence."""
    cleaned = text.strip().strip("()[]").replace("x", ",").replace("×", ",")
    parts = [p.strip() for p in cleaned.split(",") if p.strip()]
    if not parts:
        raise ValueError("Type the sizes separated by commas, like 1, 28, 28.")
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"'{text}' is not a list of whole numbers; type sizes like 1, 28, 28.") from None

"""Files written beside an exported model, kept as real Python files that ruff checks."""

"""The dock panels around the canvas: palette, inspector, diagnostics, summary, code."""

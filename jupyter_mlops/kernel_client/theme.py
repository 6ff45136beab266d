"""The colour vocabulary of the kernel's HTML (the ipywidgets panel, the demo, the worker's view).

Every colour is one of JupyterLab's theme variables, with the light colour these UIs always had
as its fallback (for a page that defines no theme, such as the classic notebook). JupyterLab and
Voilà define the variables for their light and dark themes, so the same CSS reads in both.

:func:`variables` declares the vocabulary as ``--mlops-*`` custom properties on a UI's root
element; the UI's rules then use ``var(--mlops-text)``, ``var(--mlops-ok-tint)`` and so on, and
never a colour of their own. Each hue (``ok``, ``busy``, ``warn``, ``manual``, ``bad``) comes in
three strengths:

- ``--mlops-<hue>``: the theme's colour itself (bars, outlines, the curve);
- ``--mlops-<hue>-text``: the hue mixed toward the theme's strongest text colour (black in light
  themes, white in dark ones), so coloured text keeps 4.5:1 contrast on either background;
- ``--mlops-<hue>-tint``: a little of the hue in the layout colour, the background of a badge or
  a notice (light tints on light themes, dark ones on dark themes); ``--mlops-<hue>-edge`` is a
  stronger mix for its border.
"""

from __future__ import annotations

#: The neutral colours: name -> JupyterLab variable with its light fallback.
NEUTRALS = {
    "text": "var(--jp-ui-font-color1, #1f2933)",
    "muted": "var(--jp-ui-font-color2, #52606d)",
    "strong": "var(--jp-ui-font-color0, #000000)",
    "page": "var(--jp-layout-color1, #ffffff)",
    "raised": "var(--jp-layout-color2, #e4e7eb)",
    "border": "var(--jp-border-color2, #e4e7eb)",
    "line": "var(--jp-border-color1, #cbd2d9)",
    "shadow": "var(--jp-shadow-umbra-color, rgba(0, 0, 0, 0.15))",
}

#: The hues: name -> JupyterLab variable with its light fallback.
HUES = {
    "ok": "var(--jp-success-color1, #1f7a33)",
    "busy": "var(--jp-brand-color1, #2c3e9f)",
    "warn": "var(--jp-warn-color1, #8d6a00)",
    "manual": "var(--jp-warn-color0, #9c3d10)",
    "bad": "var(--jp-error-color1, #b42318)",
}

#: How much of a hue its text, tint and edge hold (the rest is text colour or layout colour).
TEXT_SHARE, TINT_SHARE, EDGE_SHARE = 60, 18, 45


def _mix(colour: str, share: int, other: str) -> str:
    return f"color-mix(in srgb, {colour} {share}%, {other})"


def vocabulary() -> dict[str, str]:
    """Every ``--mlops-*`` custom property (without its dashes) and its value."""
    names = dict(NEUTRALS)
    names["card"] = _mix("var(--jp-layout-color2, #eef2f6)", 40, NEUTRALS["page"])
    for hue, colour in HUES.items():
        names[hue] = colour
        names[f"{hue}-text"] = _mix(colour, TEXT_SHARE, NEUTRALS["strong"])
        names[f"{hue}-tint"] = _mix(colour, TINT_SHARE, NEUTRALS["page"])
        names[f"{hue}-edge"] = _mix(colour, EDGE_SHARE, NEUTRALS["page"])
    return names


def variables(*scopes: str) -> str:
    """A CSS rule declaring the vocabulary on the elements that match ``scopes`` (the UI's root
    class); their descendants inherit it."""
    body = "".join(f"\n  --mlops-{name}: {value};" for name, value in vocabulary().items())
    return f"{', '.join(scopes)} {{{body}\n}}\n"

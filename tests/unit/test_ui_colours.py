"""The kernel's HTML UIs (the ipywidgets panel, the demo, the worker's view) take every colour
from the shared theme vocabulary, so they read in dark themes.

- No fixed colour is left in their sources outside a ``var(--jp-..., fallback)``: the CSS text is
  parsed, every themed colour taken out, and what is left must hold no colour at all.
- Every ``var(--mlops-*)`` a rule uses is declared by the vocabulary, and each UI declares it
  once, from :mod:`jupyter_mlops.kernel_client.theme`, instead of repeating JupyterLab's names.
- Text keeps 4.5:1 contrast on its background (WCAG AA) with the light fallbacks, in JupyterLab
  Light and in JupyterLab Dark: the vocabulary is evaluated here with the values of the themes
  installed with JupyterLab (the browser test checks the rendered demo page).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from jupyter_mlops.kernel_client import theme
from jupyter_mlops.kernel_client.demo import style as demo_style
from jupyter_mlops.kernel_client.panel import html_parts
from jupyter_mlops.kernel_client.worker import view

PACKAGE = Path(theme.__file__).resolve().parent
SOURCES = sorted(
    [
        *(PACKAGE / "panel").glob("*.py"),
        *(PACKAGE / "demo").glob("*.py"),
        PACKAGE / "worker" / "view.py",
        PACKAGE / "theme.py",
    ]
)
STYLES = {
    ".mlops-panel": html_parts.STYLE,
    ".mlops-demo": demo_style.STYLE,
    ".mlops-worker-view": view.STYLE,
}

#: A JupyterLab theme variable with a fixed colour as its fallback.
THEMED = re.compile(r"var\(--jp-[\w-]+,\s*(#[0-9a-fA-F]{3,8}|rgba?\([^()]*\))\s*\)")
#: A fixed colour: hex (not an HTML entity such as ``&#9733;``) or a colour function.
FIXED = re.compile(
    r"(?<![&\w])#[0-9a-fA-F]{3,8}\b|\b(?:rgba?|hsla?|hwb|lab|lch|oklab|oklch)\(", re.IGNORECASE
)
NAMED = re.compile(
    r"\b(white|black|red|green|blue|gr[ae]y|orange|yellow|purple|brown|pink|navy|silver|"
    r"maroon|teal|olive|lime|aqua|fuchsia|beige|ivory|gold|crimson|tomato)\b",
    re.IGNORECASE,
)
#: Declarations that take a colour, in the UIs' CSS (a ``<style>`` or a ``style=`` attribute).
COLOUR_DECLARATION = re.compile(
    r"\b(color|background(?:-color)?|border(?:-[a-z]+)*|outline(?:-color)?|box-shadow|fill|"
    r"stroke)\s*:\s*([^;}'\"]+)"
)
MLOPS_VAR = re.compile(r"var\(--mlops-([\w-]+)\)")


def without_themed(text: str) -> str:
    return THEMED.sub("var(--jp-themed)", text)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_fixed_colour_outside_a_theme_variable(path: Path) -> None:
    left = without_themed(path.read_text(encoding="utf-8"))
    assert FIXED.findall(left) == [], f"{path.name}: fixed colours {FIXED.findall(left)}"
    for _, value in COLOUR_DECLARATION.findall(left):
        assert not NAMED.search(value), f"{path.name}: a named colour in {value!r}"


def test_the_checker_sees_a_fixed_colour() -> None:
    """The parse above finds what it must (so the test above can fail)."""
    css = ".a { color: #52606d; background: var(--jp-layout-color1, #fff); border: 1px solid red }"
    left = without_themed(css)
    assert FIXED.findall(left) == ["#52606d"]
    assert [NAMED.search(v) is not None for _, v in COLOUR_DECLARATION.findall(left)] == [
        False,
        False,
        True,
    ]
    assert FIXED.findall(without_themed("&#9733; rgba(0, 0, 0, .1)")) == ["rgba("]


@pytest.mark.parametrize("scope", sorted(STYLES))
def test_each_ui_declares_the_shared_vocabulary_and_uses_only_it(scope: str) -> None:
    style = STYLES[scope]
    block = theme.variables(scope)
    assert style.count(block) == 1, scope
    rules = style.replace(block, "")
    used = set(MLOPS_VAR.findall(rules))
    assert used, scope
    assert used <= set(theme.vocabulary()), used - set(theme.vocabulary())
    # the rules name no JupyterLab colour of their own: that is the vocabulary's job
    assert re.findall(r"--jp-[\w-]*colou?r", rules) == [], scope
    for _, value in COLOUR_DECLARATION.findall(rules):
        assert "var(--mlops-" in value or not FIXED.search(value), value


def test_every_theme_variable_has_a_light_fallback() -> None:
    for name, value in theme.vocabulary().items():
        names = re.findall(r"var\(--jp-[\w-]+", value)
        assert names, name
        assert len(THEMED.findall(value)) == len(names), (name, value)


# --- contrast, with the colours evaluated as a browser does --------------------------------

Colour = tuple[float, float, float, float]  # r, g, b in 0..255, alpha in 0..1


def parse_colour(text: str) -> Colour:
    text = text.strip()
    if text == "white":
        return (255.0, 255.0, 255.0, 1.0)
    if text.startswith("#"):
        digits = text[1:]
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
        return (float(r), float(g), float(b), 1.0)
    numbers = [float(n) for n in re.findall(r"[\d.]+", text)]
    assert text.startswith("rgb") and len(numbers) in (3, 4), text
    return (numbers[0], numbers[1], numbers[2], numbers[3] if len(numbers) == 4 else 1.0)


def lab_theme(name: str) -> dict[str, str]:
    """``--jp-*`` -> value of an installed JupyterLab theme (``--md-*`` resolved to its hex)."""
    css = Path(sys.prefix, "share/jupyter/lab/themes/@jupyterlab", name, "index.css")
    assert css.exists(), f"JupyterLab's themes are missing: {css}"
    found = {}
    for key, value in re.findall(r"(--jp-[\w-]+):([^;}]+)", css.read_text(encoding="utf-8")):
        md = re.fullmatch(r"var\(--md-[\w-]+,\s*(#[0-9a-fA-F]+)\)", value.strip())
        found.setdefault(key, md.group(1) if md else value.strip())
    return found


def evaluate(value: str, variables: dict[str, str]) -> Colour:
    """A vocabulary value: ``var(--jp-x, fallback)`` or ``color-mix(in srgb, A p%, B)``."""
    value = value.strip()
    themed = re.fullmatch(r"var\((--jp-[\w-]+),\s*(.+)\)", value)
    if themed:
        name, fallback = themed.groups()
        return parse_colour(variables.get(name, fallback))
    mix = re.fullmatch(r"color-mix\(in srgb, (var\(.+?\)) (\d+)%, (var\(.+\))\)", value)
    assert mix, value
    a, b = evaluate(mix.group(1), variables), evaluate(mix.group(3), variables)
    p = int(mix.group(2)) / 100
    alpha = a[3] * p + b[3] * (1 - p)  # CSS Color 5: channels mixed premultiplied by alpha
    rgb = [(a[i] * a[3] * p + b[i] * b[3] * (1 - p)) / alpha for i in range(3)]
    return (rgb[0], rgb[1], rgb[2], alpha)


def luminance(colour: Colour) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(text: Colour, back: Colour) -> float:
    assert back[3] == 1.0, back
    shown = (*(text[i] * text[3] + back[i] * (1 - text[3]) for i in range(3)), 1.0)
    light, dark = sorted((luminance(shown), luminance(back)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


#: (text, background) pairs the UIs' rules put together.
PAIRS = [
    *((f"{hue}-text", f"{hue}-tint") for hue in theme.HUES),
    *((f"{hue}-text", "page") for hue in theme.HUES),
    *((f"{hue}-text", "card") for hue in theme.HUES),
    ("text", "page"),
    ("text", "raised"),
    ("text", "card"),
    ("muted", "page"),
    ("muted", "card"),
]


@pytest.mark.parametrize(
    "theme_name", ["fallbacks", "theme-light-extension", "theme-dark-extension"]
)
def test_text_keeps_contrast_in_light_and_dark_themes(theme_name: str) -> None:
    variables = {} if theme_name == "fallbacks" else lab_theme(theme_name)
    words = theme.vocabulary()
    page = evaluate(words["page"], variables)
    assert (luminance(page) > 0.5) is (theme_name != "theme-dark-extension"), page
    for text, back in PAIRS:
        ratio = contrast(evaluate(words[text], variables), evaluate(words[back], variables))
        assert ratio >= 4.5, (theme_name, text, back, round(ratio, 2))

"""Building blocks of report.html: tables, numbers, and images embedded as data URIs."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

# Readable on a laptop (1366 px wide): the page never needs a horizontal scroll bar; wide
# tables scroll inside their own box.
STYLE = (
    "body{font-family:sans-serif;margin:1em auto;max-width:1300px;padding:0 1em;"
    "line-height:1.35}"
    "table{border-collapse:collapse;margin:0.6em 0}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
    "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
    ".scroll{overflow-x:auto;max-width:100%}"
    "img{max-width:100%;height:auto}"
    "figure{margin:0.8em 0;border-top:1px solid #ddd;padding-top:0.4em}"
    "figcaption{font-size:0.95em;color:#333}"
    ".devices td:last-child{text-align:left;font-size:0.85em;max-width:30em}"
    ".warn{color:#a40}.note{color:#555;font-size:0.92em}"
    "nav a{margin-right:1em}"
)


def fmt(value: Any) -> str:
    """A table cell: floats to 4 significant digits, NaN empty, None "n/a"."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table (escaped), inside a box that scrolls sideways when it is too wide."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"


def png_uri(data: bytes) -> str:
    """PNG bytes as a data: URI, so the page needs no file beside it."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_uri(fig: Any, dpi: int = 100) -> str:
    """A matplotlib Figure (made without pyplot) as an embedded PNG of 64 colours: plots
    need no more, and the page stays ~3.5x smaller than with full colour."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(colors=64)
    small = io.BytesIO()
    image.save(small, format="PNG", optimize=True)
    return png_uri(small.getvalue())


def img(src: str | Path, alt: str) -> str:
    """An <img> of a data URI, or of a PNG file read and embedded."""
    uri = src if isinstance(src, str) and src.startswith("data:") else png_uri(
        Path(src).read_bytes())
    return f'<img src="{uri}" alt="{html.escape(alt)}">'

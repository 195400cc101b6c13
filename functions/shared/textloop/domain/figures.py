"""Evaluation figures as PNG bytes: a confusion matrix and precision-recall curves.

Pure functions over an ``evaluation.evaluate`` result; no AWS calls, no files. Rendered with
Pillow alone, not matplotlib: the figures are drawn inside the evaluation Lambda, whose
dependency layer (scipy, scikit-learn, numpy, botocore) is already about 198 MB unzipped of
Lambda's 250 MB. matplotlib with fontTools, kiwisolver, contourpy and Pillow would add about
76 MB and does not fit; Pillow alone adds about 21 MB.

* ``confusion_matrix_png``: MULTI_CLASS: one heatmap, rows = true label, columns = predicted,
  coloured by the share of the true row (so a good model has a dark diagonal), the count in
  every cell. MULTI_LABEL: one small ``TN FP / FN TP`` matrix per label, coloured the same way,
  with the label's F1 and threshold.
* ``precision_recall_png``: MULTI_LABEL only: one curve per label from the result's
  ``precision_recall_curves``, a marker at the operating point of the chosen threshold, and a
  legend ``label  t=0.42  F1=0.81``. Labels without a curve (too few positives) are listed in
  grey.
* ``entity_f1_png``: entity recognisers: per entity type, the candidate's F1 beside the active
  model's (when there is one) as horizontal bars, with each type's support, and micro F1 last
  (``evaluation.evaluate_entities`` results: exact span and type).

Everything is drawn at twice the size and scaled down with LANCZOS (anti-aliasing). The font is
Pillow's built-in scalable one (``ImageFont.load_default(size=...)``), which covers ASCII and a
few more characters; label names are folded to what it can draw (``é`` -> ``e``, else ``?``).
The PNG carries no metadata (no time, no software chunk), so the same result gives the same
bytes.

``confusion_matrix_figure`` and ``precision_recall_figure`` return the ``Figure`` behind the
bytes, with the image, the box of every matrix cell and of every text drawn (for tests).
"""

from __future__ import annotations

import io
import itertools
import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

Box = tuple[int, int, int, int]  # left, top, right, bottom in output pixels (right/bottom open)
RGB = tuple[int, int, int]

SCALE = 2  # drawn at 2x, scaled down with LANCZOS
MARGIN = 24
WHITE: RGB = (255, 255, 255)
INK: RGB = (34, 34, 34)
MUTED: RGB = (102, 102, 102)
FAINT: RGB = (150, 150, 150)
GRID: RGB = (232, 232, 232)
ISO_F1: RGB = (196, 208, 220)
AXIS: RGB = (120, 120, 120)

# Okabe & Ito's colour-blind-safe palette, without its yellow (unreadable on white). After 7
# labels the colours repeat with dashed, then dotted lines.
PALETTE: tuple[RGB, ...] = (
    (0, 114, 178),  # blue
    (230, 159, 0),  # orange
    (0, 158, 115),  # bluish green
    (213, 94, 0),  # vermillion
    (204, 121, 167),  # reddish purple
    (86, 180, 233),  # sky blue
    (0, 0, 0),  # black
)
DASHES: tuple[tuple[float, float] | None, ...] = (None, (7.0, 4.0), (1.5, 3.5))

# Sequential scale for shares 0..1 (ColorBrewer "Blues", as matplotlib's).
_BLUES: tuple[RGB, ...] = (
    (247, 251, 255),
    (222, 235, 247),
    (198, 219, 239),
    (158, 202, 225),
    (107, 174, 214),
    (66, 146, 198),
    (33, 113, 181),
    (8, 81, 156),
    (8, 48, 107),
)


@dataclass(eq=False)
class Figure:
    """A rendered figure: the image (output size), the box of every matrix cell (multi-class:
    ``(true, predicted)``; multi-label: ``(label, "TN" | "FP" | "FN" | "TP")``) and the text
    drawn, as ``(text, box)``."""

    image: Image.Image
    cells: dict[tuple[str, str], Box] = field(default_factory=dict)
    texts: list[tuple[str, Box]] = field(default_factory=list)

    def png(self) -> bytes:
        buffer = io.BytesIO()
        # No pnginfo, no dpi: nothing but the pixels, so the bytes are reproducible.
        self.image.save(buffer, format="PNG", optimize=False, compress_level=6)
        return buffer.getvalue()


# --- public API ---------------------------------------------------------------------------


def confusion_matrix_png(result: Mapping[str, Any], *, title: str) -> bytes:
    """The confusion matrix of a MULTI_CLASS or MULTI_LABEL evaluation result as PNG bytes."""
    return confusion_matrix_figure(result, title=title).png()


def precision_recall_png(result: Mapping[str, Any], *, title: str) -> bytes:
    """The precision-recall curves of a MULTI_LABEL evaluation result as PNG bytes.

    Raises ``ValueError`` for any other result, or one without curves."""
    return precision_recall_figure(result, title=title).png()


def confusion_matrix_figure(result: Mapping[str, Any], *, title: str) -> Figure:
    """The ``Figure`` behind ``confusion_matrix_png``."""
    mode = result.get("mode")
    matrix = (result.get("confusion_matrix") or {}).get("matrix")
    if matrix is None:
        raise ValueError(f"the result has no confusion matrix (mode {mode!r})")
    if mode == "MULTI_CLASS":
        return _multi_class_matrix(result, title)
    if mode == "MULTI_LABEL":
        return _multi_label_matrices(result, title)
    raise ValueError(f"no confusion matrix figure for mode {mode!r}")


def precision_recall_figure(result: Mapping[str, Any], *, title: str) -> Figure:
    """The ``Figure`` behind ``precision_recall_png``."""
    mode = result.get("mode")
    if mode != "MULTI_LABEL":
        raise ValueError(
            f"precision-recall curves are drawn for MULTI_LABEL results only, not {mode!r}"
        )
    curves = result.get("precision_recall_curves")
    if not curves:
        raise ValueError(
            "the result has no precision_recall_curves (no label had enough positives, or it "
            "was computed before evaluate() recorded curves)"
        )
    return _precision_recall(result, curves, title)


# --- drawing helpers ----------------------------------------------------------------------


@lru_cache(maxsize=64)
def _font(size: float) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=round(size * SCALE))  # type: ignore[return-value]


@lru_cache(maxsize=1)
def _notdef_mask() -> bytes:
    return bytes(_font(12).getmask("\uffff"))


@lru_cache(maxsize=4096)
def _drawable(char: str) -> bool:
    if " " <= char <= "~":
        return True
    return bytes(_font(12).getmask(char)) != _notdef_mask()


_FOLD = {"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00d7": "x", "\u00a0": " "}


def _clean(text: str) -> str:
    """``text`` with only characters the built-in font can draw."""
    out = []
    for char in str(text):
        if char in "\n\t\r":
            out.append(" ")
        elif _drawable(char):
            out.append(char)
        elif char in _FOLD:
            out.append(_FOLD[char])
        else:
            folded = "".join(
                c
                for c in unicodedata.normalize("NFKD", char)
                if not unicodedata.combining(c) and _drawable(c)
            )
            out.append(folded or "?")
    return "".join(out)


def _width(text: str, size: float) -> float:
    return _font(size).getlength(text) / SCALE


def _line_height(size: float) -> float:
    ascent, descent = _font(size).getmetrics()
    return (ascent + descent) / SCALE


def _ellipsis(text: str, size: float, max_width: float) -> str:
    """``text``, cut with an ellipsis to fit ``max_width``."""
    text = _clean(text)
    if _width(text, size) <= max_width:
        return text
    low, high = 0, len(text)
    while low < high:  # longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if _width(text[:middle].rstrip() + "\u2026", size) <= max_width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "\u2026"


def _wrap(text: str, size: float, max_width: float, max_lines: int) -> list[str]:
    """``text`` in at most ``max_lines`` lines of ``max_width``, broken after spaces, ``_``,
    ``-`` or ``/`` where possible, the last line cut with an ellipsis."""
    text = _clean(text)
    lines: list[str] = []
    rest = text
    while rest and len(lines) < max_lines - 1 and _width(rest, size) > max_width:
        fit = 1
        while fit < len(rest) and _width(rest[: fit + 1], size) <= max_width:
            fit += 1
        cut = max((rest.rfind(c, 0, fit + 1) for c in " _-/"), default=-1)
        cut = cut + 1 if cut > 0 else fit
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        lines.append(_ellipsis(rest, size, max_width))
    return lines


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _blues(share: float) -> RGB:
    share = min(max(share, 0.0), 1.0) * (len(_BLUES) - 1)
    index = min(int(share), len(_BLUES) - 2)
    return _mix(_BLUES[index], _BLUES[index + 1], share - index)


def _luminance(colour: RGB) -> float:
    def linear(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _text_on(colour: RGB) -> RGB:
    """White or near-black, whichever contrasts more with ``colour``."""
    lum = _luminance(colour)
    return WHITE if (1.05 / (lum + 0.05)) > ((lum + 0.05) / (_luminance(INK) + 0.05)) else INK


def _overlaps(a: Box | tuple[float, ...], b: Box | tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class _Canvas:
    """Drawing in output pixels on an image ``SCALE`` times larger."""

    def __init__(self, width: float, height: float):
        self.width, self.height = math.ceil(width), math.ceil(height)
        self.image = Image.new("RGB", (self.width * SCALE, self.height * SCALE), WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self.texts: list[tuple[str, Box]] = []

    @staticmethod
    def _s(value: float) -> int:
        return round(value * SCALE)

    def rect(
        self,
        box: Sequence[float],
        fill: RGB | None = None,
        outline: RGB | None = None,
        width: float = 1,
    ) -> None:
        x0, y0, x1, y1 = (self._s(v) for v in box)
        self.draw.rectangle(
            (x0, y0, x1 - 1, y1 - 1),
            fill=fill,
            outline=outline,
            width=self._s(width) if outline else 0,
        )

    def line(
        self,
        points: Sequence[tuple[float, float]],
        colour: RGB,
        width: float,
        dash: tuple[float, float] | None = None,
    ) -> None:
        scaled = [(x * SCALE, y * SCALE) for x, y in points]
        if dash is None:
            self.draw.line(scaled, fill=colour, width=self._s(width), joint="curve")
            return
        for segment in _dashed(scaled, dash[0] * SCALE, dash[1] * SCALE):
            self.draw.line(segment, fill=colour, width=self._s(width), joint="curve")

    def dot(self, x: float, y: float, radius: float, fill: RGB, outline: RGB, width: float) -> None:
        r = radius * SCALE
        self.draw.ellipse(
            (x * SCALE - r, y * SCALE - r, x * SCALE + r, y * SCALE + r),
            fill=fill,
            outline=outline,
            width=self._s(width),
        )

    def text_box(self, xy: tuple[float, float], text: str, size: float, anchor: str) -> Box:
        left, top, right, bottom = self.draw.textbbox(
            (xy[0] * SCALE, xy[1] * SCALE), text, font=_font(size), anchor=anchor
        )
        return (
            math.floor(left / SCALE),
            math.floor(top / SCALE),
            math.ceil(right / SCALE),
            math.ceil(bottom / SCALE),
        )

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        size: float,
        fill: RGB = INK,
        anchor: str = "la",
        halo: RGB | None = None,
    ) -> Box:
        text = _clean(text)
        self.draw.text(
            (xy[0] * SCALE, xy[1] * SCALE),
            text,
            fill=fill,
            font=_font(size),
            anchor=anchor,
            stroke_width=self._s(1.5) if halo else 0,
            stroke_fill=halo,
        )
        box = self.text_box(xy, text, size, anchor)
        self.texts.append((text, box))
        return box

    def vertical_text(
        self, centre: tuple[float, float], text: str, size: float, fill: RGB = INK
    ) -> Box:
        """Text turned 90 degrees (read bottom to top), centred on ``centre``."""
        text = _clean(text)
        font = _font(size)
        ascent, descent = font.getmetrics()
        length = math.ceil(font.getlength(text))
        mask = Image.new("L", (length + 2, ascent + descent), 0)
        ImageDraw.Draw(mask).text((1, 0), text, fill=255, font=font, anchor="la")
        mask = mask.rotate(90, expand=True)
        x = round(centre[0] * SCALE - mask.width / 2)
        y = round(centre[1] * SCALE - mask.height / 2)
        self.image.paste(Image.new("RGB", mask.size, fill), (x, y), mask)
        bbox = mask.getbbox() or (0, 0, 0, 0)
        box = (
            math.floor((x + bbox[0]) / SCALE),
            math.floor((y + bbox[1]) / SCALE),
            math.ceil((x + bbox[2]) / SCALE),
            math.ceil((y + bbox[3]) / SCALE),
        )
        self.texts.append((text, box))
        return box

    def figure(self, cells: dict[tuple[str, str], Box] | None = None) -> Figure:
        image = self.image.resize((self.width, self.height), Image.Resampling.LANCZOS)
        return Figure(image=image, cells=dict(cells or {}), texts=list(self.texts))


def _dashed(
    points: Sequence[tuple[float, float]], on: float, off: float
) -> Iterable[list[tuple[float, float]]]:
    """The 'on' pieces of a dashed polyline."""
    pattern, index, left, drawing = (on, off), 0, on, True
    piece: list[tuple[float, float]] = [points[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        length = math.hypot(x1 - x0, y1 - y0)
        done = 0.0
        while length - done > left:
            done += left
            t = done / length
            point = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t)
            if drawing:
                piece.append(point)
                yield piece
            piece = [point]
            drawing = not drawing
            index = 1 - index
            left = pattern[index]
        left -= length - done
        if drawing:
            piece.append((x1, y1))
    if drawing and len(piece) > 1:
        yield piece


def _title(canvas: _Canvas, title: str, subtitle: str, width: float) -> None:
    canvas.text((MARGIN, 18), _ellipsis(title, 18, width - 2 * MARGIN), 18, INK)
    canvas.text((MARGIN, 44), _ellipsis(subtitle, 12.5, width - 2 * MARGIN), 12.5, MUTED)


TITLE_HEIGHT = 78  # title and subtitle, from the top edge


def _number(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def _count(value: int) -> str:
    return f"{int(value):,}"


def _fit_size(text: str, size: float, max_width: float, smallest: float = 7) -> float:
    while size > smallest and _width(text, size) > max_width:
        size -= 0.5
    return size


def _colour_bar(canvas: _Canvas, left: float, top: float, height: float, caption: str) -> None:
    """A vertical 0..100% scale of ``_blues`` with its caption turned beside it."""
    bar_width, steps = 12, 64
    for i in range(steps):
        y0 = top + height * i / steps
        y1 = top + height * (i + 1) / steps
        canvas.rect((left, y0, left + bar_width, y1 + 0.5), fill=_blues(1 - (i + 0.5) / steps))
    canvas.rect((left, top, left + bar_width, top + height), outline=AXIS, width=0.5)
    for share in (0.0, 0.5, 1.0):
        y = top + height * (1 - share)
        canvas.line([(left + bar_width, y), (left + bar_width + 3, y)], AXIS, 0.75)
        canvas.text((left + bar_width + 5, y), f"{share:.0%}", 10, MUTED, anchor="lm")
    canvas.vertical_text((left + bar_width + 44, top + height / 2), caption, 11, MUTED)


# --- confusion matrices -------------------------------------------------------------------


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _multi_class_matrix(result: Mapping[str, Any], title: str) -> Figure:
    labels = [str(lb) for lb in result["confusion_matrix"].get("labels") or result["labels"]]
    matrix = [[int(v) for v in row] for row in result["confusion_matrix"]["matrix"]]
    n = len(labels)
    if n == 0 or len(matrix) != n or any(len(row) != n for row in matrix):
        raise ValueError(f"the confusion matrix is not {n} x {n} over its labels")
    cell = round(_clamp(520 / n, 30, 96))
    count_size = _clamp(cell * 0.24, 9, 19)
    label_size = _clamp(cell * 0.22, 10, 13)
    max_label = 170.0
    row_names = [_ellipsis(lb, label_size, max_label) for lb in labels]
    row_width = max(_width(name, label_size) for name in row_names)
    horizontal = all(_width(_clean(lb), label_size) <= cell - 6 for lb in labels)
    column_names = (
        [_clean(lb) for lb in labels]
        if horizontal
        else [_ellipsis(lb, label_size, max_label) for lb in labels]
    )
    column_height = (
        _line_height(label_size)
        if horizontal
        else max(_width(name, label_size) for name in column_names)
    )
    axis_title = 13.0
    left = MARGIN + _line_height(axis_title) + 8 + row_width + 8
    top = TITLE_HEIGHT + 8
    side = cell * n
    bar_left = left + side + 22
    width = max(bar_left + 12 + 62 + MARGIN, MARGIN + _width(_clean(title), 18) + MARGIN)
    width = min(width, max(bar_left + 12 + 62 + MARGIN, 1200))
    height = top + side + 8 + column_height + 10 + _line_height(axis_title) + 18
    canvas = _Canvas(width, height)
    subtitle = (
        f"n = {_count(result.get('n') or sum(map(sum, matrix)))} \u00b7 accuracy "
        f"{_number(result.get('Accuracy'))} \u00b7 macro-F1 {_number(result.get('F1Score'))}"
        f" \u00b7 {n} labels"
    )
    _title(canvas, title, subtitle, canvas.width)

    cells: dict[tuple[str, str], Box] = {}
    left, top = round(left), round(top)
    for i, row in enumerate(matrix):
        total = sum(row)
        for j, count in enumerate(row):
            share = count / total if total else 0.0
            box = (left + j * cell, top + i * cell, left + (j + 1) * cell, top + (i + 1) * cell)
            colour = _blues(share)
            canvas.rect(box, fill=colour)
            cells[(labels[i], labels[j])] = box
            ink = _text_on(colour) if count or share else FAINT
            text = _count(count)
            size = _fit_size(text, count_size, cell - 6)
            cx, cy = box[0] + cell / 2, box[1] + cell / 2
            if cell >= 64 and total:
                canvas.text((cx, cy - 2), text, size, ink, anchor="ms")
                canvas.text((cx, cy + 3), f"{share:.0%}", size * 0.66, ink, anchor="mt")
            else:
                canvas.text((cx, cy), text, size, ink, anchor="mm")
    # Thin white separators between cells, then the frame.
    for k in range(1, n):
        canvas.line([(left + k * cell, top), (left + k * cell, top + side)], WHITE, 1)
        canvas.line([(left, top + k * cell), (left + side, top + k * cell)], WHITE, 1)
    canvas.rect((left, top, left + side, top + side), outline=AXIS, width=0.75)

    for i, name in enumerate(row_names):
        canvas.text((left - 8, top + i * cell + cell / 2), name, label_size, INK, anchor="rm")
    for j, name in enumerate(column_names):
        x = left + j * cell + cell / 2
        if horizontal:
            canvas.text((x, top + side + 8), name, label_size, INK, anchor="mt")
        else:
            # Turned, ending at the matrix: the end of each name lines up under its column.
            length = _width(name, label_size)
            canvas.vertical_text((x, top + side + 8 + length / 2), name, label_size, INK)
    below = top + side + 8 + column_height + 10
    canvas.text((left + side / 2, below), "Predicted label", axis_title, MUTED, anchor="mt")
    canvas.vertical_text(
        (MARGIN + _line_height(axis_title) / 2, top + side / 2), "True label", axis_title, MUTED
    )
    _colour_bar(canvas, bar_left, top, side, "share of the true row")
    return canvas.figure(cells)


def _grid_columns(n: int) -> int:
    for limit, columns in ((1, 1), (4, 2), (9, 3), (16, 4), (25, 5)):
        if n <= limit:
            return columns
    return 6


QUADRANTS = (("TN", "FP"), ("FN", "TP"))


def _multi_label_matrices(result: Mapping[str, Any], title: str) -> Figure:
    labels = [str(lb) for lb in result["confusion_matrix"].get("labels") or result["labels"]]
    matrices = result["confusion_matrix"]["matrix"]
    if len(matrices) != len(labels):
        raise ValueError(f"{len(matrices)} per-label matrices for {len(labels)} labels")
    per_label = result.get("per_label") or {}
    thresholds = result.get("thresholds") or {}
    n = len(labels)
    columns = _grid_columns(n)
    rows = math.ceil(n / columns)
    cell = {1: 64, 2: 60, 3: 56, 4: 48}.get(columns, 42)
    name_size = 13.0 if columns <= 3 else 12.0
    info_size = 10.5
    count_size = _clamp(cell * 0.3, 11, 17)
    tag_size = 8.5
    panel_width = 2 * cell + 64
    name_lines = max(len(_wrap(lb, name_size, panel_width - 4, 2)) for lb in labels)
    name_block = name_lines * _line_height(name_size)
    panel_height = name_block + 2 + _line_height(info_size) + 8 + 2 * cell + 10
    gap = 16
    top = TITLE_HEIGHT + 26
    content = columns * panel_width + (columns - 1) * gap
    width = max(MARGIN + content + 22 + 12 + 62 + MARGIN, 560)
    width = max(width, min(MARGIN + _width(_clean(title), 18) + MARGIN, 1200))
    height = top + rows * panel_height + (rows - 1) * gap + 16
    canvas = _Canvas(width, height)
    subtitle = (
        f"n = {_count(result.get('n') or 0)} \u00b7 exact-match accuracy "
        f"{_number(result.get('Accuracy'))} \u00b7 macro-F1 {_number(result.get('F1Score'))} "
        f"\u00b7 micro-F1 {_number(result.get('MicroF1Score'))} \u00b7 {n} labels"
    )
    _title(canvas, title, subtitle, canvas.width)
    canvas.text(
        (MARGIN, TITLE_HEIGHT - 4),
        "Each label: rows = true (no, yes), columns = predicted (no, yes); "
        "colour = share of the true row",
        10.5,
        FAINT,
    )

    cells: dict[tuple[str, str], Box] = {}
    for index, label in enumerate(labels):
        row, column = divmod(index, columns)
        x0 = MARGIN + column * (panel_width + gap)
        y0 = top + row * (panel_height + gap)
        lines = _wrap(label, name_size, panel_width - 4, 2)
        # Names sit on the matrix: a one-line name goes on the lower line.
        y = y0 + (name_lines - len(lines)) * _line_height(name_size)
        for line in lines:
            canvas.text((x0 + panel_width / 2, y), line, name_size, INK, anchor="ma")
            y += _line_height(name_size)
        f1 = (per_label.get(label) or {}).get("F1Score")
        chosen = thresholds.get(label) or {}
        info = f"F1 {_number(f1, 2)}"
        if chosen.get("value") is not None:
            info += f" \u00b7 t={float(chosen['value']):.2f}"
            if chosen.get("source") == "default":
                info += " (kept)"
        info_top = y0 + name_block + 2
        canvas.text(
            (x0 + panel_width / 2, info_top),
            _ellipsis(info, info_size, panel_width - 4),
            info_size,
            MUTED,
            anchor="ma",
        )
        mx = round(x0 + (panel_width - 2 * cell) / 2)
        my = round(info_top + _line_height(info_size) + 8)
        quadrants = [[int(v) for v in r] for r in matrices[index]]
        for i in range(2):
            total = sum(quadrants[i])
            for j in range(2):
                count = quadrants[i][j]
                share = count / total if total else 0.0
                box = (mx + j * cell, my + i * cell, mx + (j + 1) * cell, my + (i + 1) * cell)
                colour = _blues(share)
                canvas.rect(box, fill=colour)
                cells[(label, QUADRANTS[i][j])] = box
                ink = _text_on(colour) if total else FAINT
                canvas.text((box[0] + 3, box[1] + 2), QUADRANTS[i][j], tag_size, ink)
                text = _count(count)
                size = _fit_size(text, count_size, cell - 6)
                canvas.text(
                    (box[0] + cell / 2, box[1] + cell / 2 + 4), text, size, ink, anchor="mm"
                )
        canvas.line([(mx + cell, my), (mx + cell, my + 2 * cell)], WHITE, 1)
        canvas.line([(mx, my + cell), (mx + 2 * cell, my + cell)], WHITE, 1)
        canvas.rect((mx, my, mx + 2 * cell, my + 2 * cell), outline=AXIS, width=0.75)
    bar_left = MARGIN + content + 22
    bar_height = min(rows * panel_height + (rows - 1) * gap, 260)
    _colour_bar(canvas, bar_left, top, bar_height, "share of the true row")
    return canvas.figure(cells)


# --- precision-recall curves --------------------------------------------------------------


def _darker(colour: RGB, amount: float = 0.25) -> RGB:
    return _mix(colour, (0, 0, 0), amount)


def _style(index: int) -> tuple[RGB, tuple[float, float] | None]:
    return PALETTE[index % len(PALETTE)], DASHES[(index // len(PALETTE)) % len(DASHES)]


def _operating_point(
    label: str, curve: Mapping[str, Sequence[float]], result: Mapping[str, Any]
) -> tuple[float, float] | None:
    """(recall, precision) at the chosen threshold: the point of the curve at the first cut at
    or above it (the precision of an empty prediction is the curve's, 1)."""
    chosen = (result.get("thresholds") or {}).get(label) or {}
    value = chosen.get("value")
    if value is None:
        return None
    cuts = list(curve["thresholds"])
    # Curve values are rounded to 4 decimals; compare at the same precision.
    target = round(float(value), 4)
    index = next((k for k, cut in enumerate(cuts) if cut >= target), len(cuts))
    return float(curve["recall"][index]), float(curve["precision"][index])


def _precision_recall(
    result: Mapping[str, Any], curves: Mapping[str, Mapping[str, Sequence[float]]], title: str
) -> Figure:
    labels = [str(lb) for lb in result.get("labels") or curves]
    per_label = result.get("per_label") or {}
    thresholds = result.get("thresholds") or {}
    plot = 440
    tick_size, axis_title, legend_size = 10.5, 13.0, 11.5
    left = MARGIN + _line_height(axis_title) + 6 + _width("0.0", tick_size) + 8
    top = TITLE_HEIGHT + 22
    legend_left = left + plot + 28
    name_width = min(max(_width(_clean(lb), legend_size) for lb in labels), 150)
    t_column = legend_left + 30 + name_width + 12
    f1_column = t_column + _width("t=0.00", legend_size) + 12
    legend_right = f1_column + _width("F1=0.00", legend_size)
    row_height = _line_height(legend_size) + 3
    legend_height = (len(labels) + 1) * row_height + 8
    width = max(legend_right + MARGIN, MARGIN + min(_width(_clean(title), 18), 1000) + MARGIN)
    height = top + max(plot, legend_height) + 12 + 18 + _line_height(axis_title) + 14
    canvas = _Canvas(width, height)
    tuned = sum(1 for t in thresholds.values() if (t or {}).get("source") == "tuned")
    subtitle = (
        f"n = {_count(result.get('n') or 0)} \u00b7 macro-F1 {_number(result.get('F1Score'))}"
        f" \u00b7 micro-F1 {_number(result.get('MicroF1Score'))} \u00b7 dots: chosen "
        f"thresholds ({tuned} of {len(labels)} tuned at the F1 maximum)"
    )
    _title(canvas, title, subtitle, canvas.width)

    def xy(recall: float, precision: float) -> tuple[float, float]:
        return left + recall * plot, top + (1 - precision) * plot

    # Grid, iso-F1 lines, axes.
    for k in range(11):
        v = k / 10
        colour = GRID if k % 2 else (222, 222, 222)
        canvas.line([xy(v, 0), xy(v, 1)], colour, 0.75)
        canvas.line([xy(0, v), xy(1, v)], colour, 0.75)
    for f in (0.2, 0.4, 0.6, 0.8):
        points = []
        for step in range(121):
            recall = f / 2 + (1 - f / 2) * step / 120
            precision = f * recall / (2 * recall - f) if 2 * recall > f else 1.0
            if precision <= 1.0:
                points.append(xy(recall, precision))
        canvas.line(points, ISO_F1, 0.75, dash=(3, 3))
        # Labelled above the plot, where the line meets precision 1.
        canvas.text((xy(f / (2 - f), 1)[0], top - 3), f"F1={f:.1f}", 9, FAINT, anchor="mb")
    canvas.rect((left, top, left + plot, top + plot), outline=AXIS, width=0.75)
    for k in range(6):
        v = k / 5
        x, y = xy(v, 0)
        canvas.line([(x, y), (x, y + 4)], AXIS, 0.75)
        canvas.text((x, y + 6), f"{v:.1f}", tick_size, MUTED, anchor="mt")
        x, y = xy(0, v)
        canvas.line([(x - 4, y), (x, y)], AXIS, 0.75)
        canvas.text((x - 6, y), f"{v:.1f}", tick_size, MUTED, anchor="rm")
    canvas.text((left + plot / 2, top + plot + 12 + 18), "Recall", axis_title, MUTED, anchor="ma")
    canvas.vertical_text(
        (MARGIN + _line_height(axis_title) / 2, top + plot / 2), "Precision", axis_title, MUTED
    )

    # Curves first, then every marker over them, then the threshold values where they fit.
    styles = {label: _style(k) for k, label in enumerate(labels)}
    markers: list[tuple[str, float, float]] = []
    for label in labels:
        curve = curves.get(label)
        if not curve:
            continue
        colour, dash = styles[label]
        # Without the final (recall 0, precision 1) point: it belongs to no threshold, and
        # where the top-scored documents are negatives it is a misleading jump up the axis.
        reached = len(curve["thresholds"])
        points = [xy(r, p) for r, p in zip(curve["recall"], curve["precision"], strict=True)]
        points = points[:reached] if reached > 1 else points
        canvas.line(points, colour, 2.0, dash=dash)
        point = _operating_point(label, curve, result)
        if point is not None:
            markers.append((label, *xy(*point)))
    taken: list[tuple[float, ...]] = [box for _, box in canvas.texts]
    for label, x, y in markers:
        canvas.dot(x, y, 4.5, styles[label][0], WHITE, 1.5)
        taken.append((x - 6, y - 6, x + 6, y + 6))
    _annotate(canvas, markers, styles, thresholds, taken, (left, top, left + plot, top + plot))

    # Legend beside the plot.
    y = top + 2
    missing = []
    for label in labels:
        has_curve = bool(curves.get(label))
        colour, dash = styles[label]
        middle = y + row_height / 2 - 1
        if has_curve:
            canvas.line([(legend_left, middle), (legend_left + 22, middle)], colour, 2.0, dash)
            canvas.dot(legend_left + 11, middle, 3.5, colour, WHITE, 1)
        else:
            missing.append(label)
        ink = INK if has_curve else FAINT
        name = _ellipsis(label, legend_size, name_width)
        canvas.text((legend_left + 30, middle), name, legend_size, ink, anchor="lm")
        chosen = thresholds.get(label) or {}
        if chosen.get("value") is not None:
            text = f"t={float(chosen['value']):.2f}"
            canvas.text((t_column, middle), text, legend_size, ink, anchor="lm")
        f1 = (per_label.get(label) or {}).get("F1Score")
        canvas.text((f1_column, middle), f"F1={_number(f1, 2)}", legend_size, ink, anchor="lm")
        y += row_height
    if missing:
        note = "grey: no curve, too few positives"
        canvas.text((legend_left, y + 4), _ellipsis(note, 10, width - legend_left - 8), 10, FAINT)
    return canvas.figure()


def _annotate(
    canvas: _Canvas,
    markers: Sequence[tuple[str, float, float]],
    styles: Mapping[str, tuple[RGB, Any]],
    thresholds: Mapping[str, Any],
    taken: list[tuple[float, ...]],
    plot: tuple[float, float, float, float],
) -> None:
    """The chosen threshold beside each marker, at the first free spot around it; none where
    nothing is free (the legend has every value)."""
    size = 9.5
    offsets: list[Callable[[float, float], tuple[float, float, str]]] = [
        lambda x, y: (x + 7, y - 7, "lb"),
        lambda x, y: (x + 7, y + 7, "lt"),
        lambda x, y: (x - 7, y - 7, "rb"),
        lambda x, y: (x - 7, y + 7, "rt"),
        lambda x, y: (x + 9, y, "lm"),
        lambda x, y: (x - 9, y, "rm"),
        lambda x, y: (x, y - 9, "mb"),
        lambda x, y: (x, y + 9, "mt"),
    ]
    for label, x, y in markers:
        value = (thresholds.get(label) or {}).get("value")
        if value is None:
            continue
        text = f"{float(value):.2f}"
        for offset in offsets:
            tx, ty, anchor = offset(x, y)
            box = canvas.text_box((tx, ty), text, size, anchor)
            padded = (box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1)
            inside = (
                plot[0] + 1 <= box[0]
                and box[2] <= plot[2] - 1
                and plot[1] + 1 <= box[1]
                and box[3] <= plot[3] - 1
            )
            if inside and not any(_overlaps(padded, other) for other in taken):
                canvas.text((tx, ty), text, size, _darker(styles[label][0]), anchor, halo=WHITE)
                taken.append(padded)
                break


# --- entity recognisers: per-type F1 bars -------------------------------------------------

MICRO = "micro"


def entity_f1_png(
    candidate: Mapping[str, Any], active: Mapping[str, Any] | None, *, title: str
) -> bytes:
    """Per-type F1 of an entity recogniser's evaluation (and the active model's, when there is
    one) as grouped horizontal bars, with micro F1 as the last group, as PNG bytes."""
    return entity_f1_figure(candidate, active, title=title).png()


def entity_f1_figure(
    candidate: Mapping[str, Any], active: Mapping[str, Any] | None, *, title: str
) -> Figure:
    """The ``Figure`` behind ``entity_f1_png``: a bar's box is in ``cells`` under ``(type,
    "candidate" | "active")``, micro F1's under ``("micro", ...)``."""
    evaluations = [("candidate", candidate)] + ([("active", active)] if active else [])
    for role, evaluation in evaluations:
        if evaluation.get("model_type") != "ENTITY_RECOGNIZER":
            raise ValueError(
                f"the {role} evaluation is not an entity recogniser's "
                f"({evaluation.get('model_type')!r})"
            )
    types = sorted({str(t) for _, e in evaluations for t in (e.get("per_label") or {})})
    groups = [*types, MICRO]

    def f1(evaluation: Mapping[str, Any], group: str) -> float | None:
        if group == MICRO:
            value = evaluation.get("MicroF1Score")
        else:
            value = ((evaluation.get("per_label") or {}).get(group) or {}).get("F1Score")
        return None if value is None else float(value)

    def support(group: str) -> int | None:
        stats = (candidate.get("per_label") or {}).get(group) or {}
        return stats.get("Support")

    label_size, value_size = 12.0, 10.5
    names = [_ellipsis(g, label_size, 170) for g in groups]
    captions = [f"support {_count(support(g))}" if support(g) is not None else "" for g in groups]
    name_width = max(
        max(_width(n, label_size) for n in names), max(_width(c, 9.5) for c in captions)
    )
    bar_height, gap = 16, 14
    group_height = bar_height * len(evaluations) + gap
    left = MARGIN + name_width + 12
    plot_width = 420
    top = TITLE_HEIGHT + 30
    width = max(left + plot_width + 56 + MARGIN, MARGIN + _width(_clean(title), 18) + MARGIN)
    height = top + group_height * len(groups) + 40
    canvas = _Canvas(width, height)
    subtitle = (
        f"n = {_count(candidate.get('n') or 0)} documents \u00b7 exact span and type \u00b7 "
        f"micro-F1 {_number(candidate.get('MicroF1Score'))}"
        + (f" (active {_number(active.get('MicroF1Score'))})" if active else " (no active model)")
    )
    _title(canvas, title, subtitle, canvas.width)
    # Legend.
    x = left
    for index, (role, evaluation) in enumerate(evaluations):
        colour = PALETTE[index]
        canvas.rect((x, TITLE_HEIGHT + 4, x + 12, TITLE_HEIGHT + 16), fill=colour)
        label = f"{role} {evaluation.get('model_version') or ''}".strip()
        box = canvas.text((x + 17, TITLE_HEIGHT + 10), label, 11, INK, anchor="lm")
        x = box[2] + 18
    # Grid lines at 0, 0.25, ... 1.
    plot_bottom = top + group_height * len(groups) - gap
    for step in range(5):
        gx = left + plot_width * step / 4
        canvas.line([(gx, top - 4), (gx, plot_bottom + 4)], GRID, 1)
        canvas.text((gx, plot_bottom + 10), f"{step / 4:.2f}", 10, MUTED, anchor="mt")
    canvas.text((left + plot_width / 2, plot_bottom + 26), "F1", 11, MUTED, anchor="mt")
    cells: dict[tuple[str, str], Box] = {}
    for g, group in enumerate(groups):
        y0 = top + g * group_height
        middle = y0 + bar_height * len(evaluations) / 2
        ink = INK if group != MICRO else MUTED
        canvas.text((left - 10, middle - 1), names[g], label_size, ink, anchor="rb")
        if captions[g]:
            canvas.text((left - 10, middle + 2), captions[g], 9.5, MUTED, anchor="rt")
        for index, (role, evaluation) in enumerate(evaluations):
            value = f1(evaluation, group)
            by = y0 + index * bar_height
            length = plot_width * _clamp(value or 0.0, 0.0, 1.0)
            box = (left, by + 1, left + length, by + bar_height - 1)
            canvas.rect(box, fill=PALETTE[index])
            cells[(group, role)] = (
                round(box[0]),
                round(box[1]),
                round(max(box[2], box[0] + 1)),
                round(box[3]),
            )
            canvas.text(
                (left + length + 5, by + bar_height / 2), _number(value), value_size, INK, "lm"
            )
    canvas.line([(left, top - 4), (left, plot_bottom + 4)], AXIS, 1)
    return canvas.figure(cells)

"""Evaluation figures (Pillow only): real models on real data, evaluated, then drawn."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image
from textloop.domain import evaluation, figures, local_model

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUADRANTS = ("TN", "FP", "FN", "TP")


def decode(data: bytes) -> Image.Image:
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.info == {}  # no text chunks, no time, no dpi: reproducible bytes
    image.load()
    return image.convert("RGB")


def cell_colour(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """The background of a cell: its most common colour (the printed count is a minority)."""
    colours = image.crop(box).getcolors(maxcolors=1 << 20)
    return max(colours)[1]


def luminance(colour: tuple[int, int, int]) -> float:
    r, g, b = colour
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def inside(inner: tuple[int, ...], outer: tuple[int, ...]) -> bool:
    return (
        outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2]
        and inner[3] <= outer[3]
    )  # fmt: skip


def assert_text_does_not_collide(figure: figures.Figure) -> None:
    width, height = figure.image.size
    for text, box in figure.texts:
        assert inside(box, (0, 0, width, height)), f"{text!r} at {box} leaves the image"
    for (text_a, a), (text_b, b) in itertools.combinations(figure.texts, 2):
        assert not figures._overlaps(a, b), f"{text_a!r} {a} overlaps {text_b!r} {b}"


@pytest.fixture(scope="module")
def ag_news_result(ag_news_model, ag_news_rows):
    """The session's AG News model (first 1,600 rows) on 800 held-out rows."""
    held_out = ag_news_rows[1600:2400]
    predictions = local_model.LocalBackend(ag_news_model).predict([text for _, text in held_out])
    return evaluation.evaluate(
        [[label] for label, _ in held_out],
        predictions,
        mode="MULTI_CLASS",
        model_version=ag_news_model.model_version,
    )


@pytest.fixture(scope="module")
def jigsaw_result(jigsaw_rows):
    """The local multi-label model trained on the first 3,000 Jigsaw rows, evaluated on the last
    1,000 (one `threat` positive there: too few to tune, so no curve)."""
    train, test = jigsaw_rows[:3000], jigsaw_rows[3000:]
    model = local_model.fit([t for t, _ in train], [sorted(y) for t, y in train], "MULTI_LABEL")
    predictions = local_model.LocalBackend(model).predict([t for t, _ in test])
    return evaluation.evaluate(
        [sorted(y) for _, y in test], predictions, mode="MULTI_LABEL", labels=list(model.labels)
    )


def synthetic_multi_label(n_labels: int = 20, n: int = 600, seed: int = 11) -> dict:
    """A 20-label evaluation of scores of varying quality, with long and non-ASCII names."""
    rng = np.random.default_rng(seed)
    names = [f"label_{k:02d}" for k in range(n_labels - 2)] + [
        "a_really_long_label_name_that_keeps_going_and_going_and_going",
        "\u00dcberraschung \u2013 sehr lang und noch l\u00e4nger als die Spalte",
    ]
    truth = rng.random((n, n_labels)) < np.linspace(0.03, 0.4, n_labels)
    signal = np.linspace(0.2, 2.5, n_labels)
    scores = 1 / (1 + np.exp(-(truth * signal + rng.normal(0, 1, (n, n_labels)) - 1.5)))
    return evaluation.evaluate(
        [[names[j] for j in np.flatnonzero(row)] for row in truth],
        [dict(zip(names, map(float, row), strict=True)) for row in scores],
        mode="MULTI_LABEL",
        labels=names,
    )


def test_multi_class_heatmap_is_a_deterministic_png_with_a_dark_diagonal(ag_news_result):
    result = ag_news_result
    assert result["Accuracy"] > 0.8  # a decent model, so the claim below is about drawing
    title = "AG News - local model - held-out rows"
    data = figures.confusion_matrix_png(result, title=title)
    assert figures.confusion_matrix_png(result, title=title) == data
    image = decode(data)
    assert 450 <= image.width <= 900 and 400 <= image.height <= 800
    assert 10_000 < len(data) < 300_000

    figure = figures.confusion_matrix_figure(result, title=title)
    labels = result["labels"]
    matrix = result["confusion_matrix"]["matrix"]
    assert set(figure.cells) == set(itertools.product(labels, labels))
    texts = [text for text, _ in figure.texts]
    assert texts[0] == title
    assert f"accuracy {result['Accuracy']:.3f}" in texts[1]
    assert f"macro-F1 {result['F1Score']:.3f}" in texts[1]
    assert "n = 800" in texts[1]
    assert {"Predicted label", "True label", *labels} <= set(texts)
    for i, true in enumerate(labels):
        row = {pred: cell_colour(image, figure.cells[(true, pred)]) for pred in labels}
        for pred in labels:
            if pred != true:
                assert luminance(row[true]) < luminance(row[pred]), (true, pred, row)
        for j, pred in enumerate(labels):
            # The count is printed inside its own cell.
            box = figure.cells[(true, pred)]
            printed = [b for text, b in figure.texts if text == str(matrix[i][j])]
            assert any(inside(b, box) for b in printed), (true, pred, matrix[i][j])
        # The text on the darkest cell is light, on a white-ish cell dark.
        diagonal = figure.cells[(true, true)]
        count_pixels = image.crop(diagonal).getcolors(maxcolors=100_000)
        lightest = max(count_pixels, key=lambda item: luminance(item[1]))[1]
        assert luminance(lightest) > luminance(row[true]) + 80
    assert_text_does_not_collide(figure)


def test_multi_label_grid_shows_tn_fp_fn_tp_per_label(jigsaw_result):
    result = jigsaw_result
    data = figures.confusion_matrix_png(result, title="Jigsaw")
    assert figures.confusion_matrix_png(result, title="Jigsaw") == data
    image = decode(data)
    assert 500 <= image.width <= 1000 and 350 <= image.height <= 800

    figure = figures.confusion_matrix_figure(result, title="Jigsaw")
    labels = result["labels"]
    assert set(figure.cells) == set(itertools.product(labels, QUADRANTS))
    texts = [text for text, _ in figure.texts]
    for index, label in enumerate(labels):
        (tn, fp), (fn, tp) = result["confusion_matrix"]["matrix"][index]
        for quadrant, count in zip(QUADRANTS, (tn, fp, fn, tp), strict=True):
            box = figure.cells[(label, quadrant)]
            printed = [b for text, b in figure.texts if text == f"{count:,}"]
            assert any(inside(b, box) for b in printed), (label, quadrant, count)
        # Most documents are true negatives that stay negative: TN is the dark one of its row.
        assert luminance(cell_colour(image, figure.cells[(label, "TN")])) < luminance(
            cell_colour(image, figure.cells[(label, "FP")])
        )
        f1 = result["per_label"][label]["F1Score"]
        assert any(t.startswith(f"F1 {f1:.2f}") for t in texts), label
    assert_text_does_not_collide(figure)


def test_precision_recall_curves_are_drawn_in_their_colours_with_the_thresholds(jigsaw_result):
    result = jigsaw_result
    curves = result["precision_recall_curves"]
    assert "threat" in result["labels"] and "threat" not in curves  # 1 positive: no curve
    data = figures.precision_recall_png(result, title="Jigsaw")
    assert figures.precision_recall_png(result, title="Jigsaw") == data
    image = decode(data)
    assert 600 <= image.width <= 1000 and 500 <= image.height <= 800

    pixels = np.asarray(image, dtype=int).reshape(-1, 3)

    def near(colour: tuple[int, int, int]) -> int:
        return int((np.abs(pixels - np.array(colour)).sum(axis=1) < 30).sum())

    figure = figures.precision_recall_figure(result, title="Jigsaw")
    for index, label in enumerate(result["labels"]):
        colour = figures.PALETTE[index]
        if label in curves:
            assert near(colour) > 150, label  # a curve, a marker and a legend swatch
        else:
            assert near(colour) == 0, label  # nothing drawn for a label without a curve
    texts = [text for text, _ in figure.texts]
    for label, chosen in result["thresholds"].items():
        assert f"t={chosen['value']:.2f}" in texts
        assert f"F1={result['per_label'][label]['F1Score']:.2f}" in texts
    # The threshold is written beside (most) markers too, in the curve's colour.
    annotated = [lb for lb in curves if f"{result['thresholds'][lb]['value']:.2f}" in texts]
    assert len(annotated) >= len(curves) - 1
    assert {"Recall", "Precision", "0.0", "0.2", "1.0"} <= set(texts)
    assert_text_does_not_collide(figure)


def test_precision_recall_needs_a_multi_label_result_with_curves(ag_news_result, jigsaw_result):
    with pytest.raises(ValueError, match="MULTI_LABEL results only, not 'MULTI_CLASS'"):
        figures.precision_recall_png(ag_news_result, title="AG News")
    without = {**jigsaw_result, "precision_recall_curves": None}
    with pytest.raises(ValueError, match="no precision_recall_curves"):
        figures.precision_recall_png(without, title="Jigsaw")
    with pytest.raises(ValueError, match="no confusion matrix"):
        figures.confusion_matrix_png({**ag_news_result, "confusion_matrix": None}, title="x")


def test_twenty_labels_stay_legible():
    result = synthetic_multi_label()
    assert len(result["labels"]) == 20
    for render, png in (
        (figures.confusion_matrix_figure, figures.confusion_matrix_png),
        (figures.precision_recall_figure, figures.precision_recall_png),
    ):
        figure = render(result, title="Twenty labels")
        image = decode(png(result, title="Twenty labels"))
        assert image.size == figure.image.size
        assert 700 <= image.width <= 1300 and 500 <= image.height <= 1100
        assert_text_does_not_collide(figure)
        texts = [text for text, _ in figure.texts]
        # Long names are cut with an ellipsis, and non-ASCII folds to what the font has.
        # (the grid wraps a name over two lines, the second one cut)
        assert any(t.startswith("a_really_long") for t in texts)
        assert sum(t.endswith("\u2026") for t in texts) >= 2
        assert not any("keeps_going_and_going_and_going" in t for t in texts)
        assert any(t.startswith("Uberraschung - ") for t in texts)
        assert all(ch.isascii() or ch in "\u00b7\u2026" for t in texts for ch in t)
    grid = figures.confusion_matrix_figure(result, title="Twenty labels")
    boxes = list(grid.cells.values())
    assert len(boxes) == 80
    assert not any(figures._overlaps(a, b) for a, b in itertools.combinations(boxes, 2))


def test_twenty_classes_heatmap_fits_and_keeps_the_cells_apart():
    rng = np.random.default_rng(5)
    names = [f"class {k}" for k in range(19)] + ["Science & Technology, a very long class name"]
    true = rng.integers(0, 20, 2000)
    predicted = np.where(rng.random(2000) < 0.7, true, rng.integers(0, 20, 2000))
    result = evaluation.evaluate(
        [[names[k]] for k in true],
        [{names[k]: 1.0} for k in predicted],
        mode="MULTI_CLASS",
        labels=names,
    )
    figure = figures.confusion_matrix_figure(result, title="Twenty classes")
    image = decode(figures.confusion_matrix_png(result, title="Twenty classes"))
    assert 700 <= image.width <= 1100 and 700 <= image.height <= 1100
    assert len(figure.cells) == 400
    assert min(box[2] - box[0] for box in figure.cells.values()) >= 28
    assert_text_does_not_collide(figure)
    for k, name in enumerate(names):
        diagonal = luminance(cell_colour(image, figure.cells[(name, name)]))
        other = luminance(cell_colour(image, figure.cells[(name, names[(k + 1) % 20])]))
        assert diagonal < other

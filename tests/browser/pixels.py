"""Screenshots compared within a tolerance (Pillow only): how many pixels changed by more than a threshold, and a diff
image that shows where. Chromium on one machine draws a page the same every time, so the tolerance is there for
antialiasing noise, not for a page that looks different."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageChops

#: A pixel counts as changed when one of its channels differs by more than this (of 255).
CHANNEL_THRESHOLD = 16
#: The share of changed pixels a screenshot may have and still match its baseline: 1 in 10,000, 126 pixels of a
#: 1400 x 900 page. Two runs on one machine differ by none; one word changed in a heading is some 1,000.
MAX_CHANGED_FRACTION = 0.0001
#: How many pixels the width or the height may differ by (the rows or columns one image lacks count as changed).
MAX_SIZE_DELTA = 4
#: What the diff image paints the changed pixels with, over a faded copy of the baseline.
DIFF_COLOUR = (255, 0, 64)


@dataclass(frozen=True)
class Comparison:
    """How a screenshot differs from its baseline."""

    actual_size: tuple[int, int]
    expected_size: tuple[int, int]
    changed: int  #: pixels whose channels differ by more than the threshold (or that only one image has)
    total: int  #: pixels of the larger canvas both were laid on
    max_fraction: float
    max_size_delta: int

    @property
    def fraction(self) -> float:
        """The share of changed pixels."""
        return self.changed / self.total if self.total else 0.0

    @property
    def size_ok(self) -> bool:
        """Width and height each within ``max_size_delta`` of the baseline's."""
        return all(abs(a - e) <= self.max_size_delta for a, e in zip(self.actual_size, self.expected_size, strict=True))

    @property
    def matches(self) -> bool:
        """Close enough in size, and few enough pixels changed."""
        return self.size_ok and self.fraction <= self.max_fraction

    def describe(self) -> str:
        """One line for a failure message."""
        return (
            f"{self.changed} of {self.total} pixels changed ({self.fraction:.3%}, at most {self.max_fraction:.3%}), "
            f"size {self.actual_size[0]}x{self.actual_size[1]} against {self.expected_size[0]}x{self.expected_size[1]}"
        )


def _on_canvas(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` as RGB, its top-left corner on a canvas of ``size`` (what it lacks is magenta, never page-like)."""
    rgb = image.convert("RGB")
    if rgb.size == size:
        return rgb
    canvas = Image.new("RGB", size, (255, 0, 255))
    canvas.paste(rgb, (0, 0))
    return canvas


def changed_mask(actual: Image.Image, expected: Image.Image, threshold: int = CHANNEL_THRESHOLD) -> Image.Image:
    """A mode ``1`` image over both images' common canvas: set where a pixel changed by more than ``threshold``.

    Pixels only one image has are always set: the other has none there (and its magenta never matches a page).
    """
    size = (max(actual.width, expected.width), max(actual.height, expected.height))
    a, e = _on_canvas(actual, size), _on_canvas(expected, size)
    red, green, blue = ImageChops.difference(a, e).split()
    largest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    mask = largest.point(lambda v: 255 if v > threshold else 0).convert("1")
    if actual.size != expected.size:
        only_one = Image.new("1", size, 1)
        only_one.paste(0, (0, 0, min(actual.width, expected.width), min(actual.height, expected.height)))
        mask = ImageChops.logical_or(mask, only_one)
    return mask


def compare(
    actual: Image.Image,
    expected: Image.Image,
    *,
    threshold: int = CHANNEL_THRESHOLD,
    max_fraction: float = MAX_CHANGED_FRACTION,
    max_size_delta: int = MAX_SIZE_DELTA,
) -> Comparison:
    """How ``actual`` differs from ``expected``: changed pixels counted over the canvas both fit on."""
    mask = changed_mask(actual, expected, threshold)
    return Comparison(
        actual_size=actual.size,
        expected_size=expected.size,
        changed=mask.histogram()[-1],
        total=mask.width * mask.height,
        max_fraction=max_fraction,
        max_size_delta=max_size_delta,
    )


def diff_image(actual: Image.Image, expected: Image.Image, threshold: int = CHANNEL_THRESHOLD) -> Image.Image:
    """The baseline faded to a third, with every changed pixel painted ``DIFF_COLOUR``."""
    mask = changed_mask(actual, expected, threshold)
    faded = Image.blend(Image.new("RGB", mask.size, (255, 255, 255)), _on_canvas(expected, mask.size), 1 / 3)
    return Image.composite(Image.new("RGB", mask.size, DIFF_COLOUR), faded, mask)

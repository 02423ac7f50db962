"""The CMR's bar charts as PNG images for Word, drawn from the same SVG the PDF shows.

The SVG that templates/macros.html.j2 writes holds only rectangles and text. They are drawn with
Pillow and the bundled Liberation Sans, so the image does not depend on the fonts installed on
the machine (a rasteriser using fontconfig would draw other glyphs, or none, elsewhere) and the
same build gives the same bytes. An element this drawer does not know is an error naming the
figure, never a chart with parts silently missing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from lxml import etree
from PIL import Image, ImageDraw, ImageFont

from ..report.templating import builtin_theme_dir

SVG = "{http://www.w3.org/2000/svg}"
SCALE = 4  # pixels per SVG unit: sharp when Word prints the 482-unit chart 6.7 inches wide
FONT_FILE = "fonts/LiberationSans-Regular.ttf"
IGNORED = {"title", "desc"}  # accessible names: the Word image carries the title as alt text


class ChartError(ValueError):
    """The SVG holds something the chart drawer cannot draw."""


@dataclass(frozen=True)
class Raster:
    png: bytes
    width: float  # SVG units
    height: float
    title: str


def _number(element: etree._Element, name: str, default: float = 0.0) -> float:
    value = element.get(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ChartError(f"<{etree.QName(element).localname}> has {name}={value!r}, not a number") from None


def _colour(value: str | None) -> str | None:
    return None if value in (None, "none") else value


def _font(size: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(builtin_theme_dir() / FONT_FILE), round(size * SCALE))


def _draw_rect(draw: ImageDraw.ImageDraw, element: etree._Element) -> None:
    x, y = _number(element, "x") * SCALE, _number(element, "y") * SCALE
    width, height = _number(element, "width") * SCALE, _number(element, "height") * SCALE
    stroke = _colour(element.get("stroke"))
    stroke_width = round(_number(element, "stroke-width", 1.0) * SCALE) if stroke else 0
    draw.rectangle(
        (x, y, x + width - 1, y + height - 1),
        fill=_colour(element.get("fill")),
        outline=stroke,
        width=stroke_width,
    )


def _draw_text(draw: ImageDraw.ImageDraw, element: etree._Element, font_size: float) -> None:
    anchor = {"end": "rs", "middle": "ms"}.get(element.get("text-anchor", "start"), "ls")
    draw.text(
        (_number(element, "x") * SCALE, _number(element, "y") * SCALE),
        "".join(element.itertext()),
        fill=element.get("fill", "#000000"),
        font=_font(_number(element, "font-size", font_size)),
        anchor=anchor,
    )


def rasterize(svg: etree._Element) -> Raster:
    """PNG of an <svg> element of rect and text children."""
    width, height = _number(svg, "width"), _number(svg, "height")
    if width <= 0 or height <= 0:
        raise ChartError("the <svg> needs a positive width and height")
    image = Image.new("RGB", (round(width * SCALE), round(height * SCALE)), "#ffffff")
    draw = ImageDraw.Draw(image)
    font_size = _number(svg, "font-size", 8.0)
    title = ""
    for element in svg:
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        if name == "title":
            title = " ".join("".join(element.itertext()).split())
        elif name == "rect":
            _draw_rect(draw, element)
        elif name == "text":
            _draw_text(draw, element, font_size)
        elif name not in IGNORED:
            raise ChartError(f"cannot draw <{name}> (the Word chart drawer knows <rect> and <text>)")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(72 * SCALE, 72 * SCALE))
    return Raster(buffer.getvalue(), width, height, title)

"""The built-in demo dataset: hot dogs and look-alike foods drawn with Pillow, so the app works offline out of the box.

The "nohotdog" class is made of look-alikes (sausages without a bun, empty buns, baguettes, bananas, carrots,
burgers...) on the same plates, backgrounds and lighting as the hot dogs, so a model has to learn "a sausage lying in
a bun" rather than "something tan on a plate". Every image is drawn from its own seeded random stream, so the same
seed gives byte-identical files whatever the counts, and a classroom always sees the same pictures.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from hotdog.images import CENTRE_FRACTION

#: Photos per class for each split: 800 in all, drawn in a few seconds.
DEFAULT_SPLITS: dict[str, int] = {"train": 300, "validation": 50, "test": 50}
CLASSES = ("hotdog", "nohotdog")
#: Written last, so its presence means the dataset is complete; its text tells people what they are looking at.
MARKER = "SYNTHETIC.txt"
#: Drawing happens at this multiple of the final size, then shrinks: cheap anti-aliasing.
SUPERSAMPLE = 2
JPEG_QUALITY = 90
#: A temporary folder this old belongs to a generation that was killed; it is safe to delete.
STALE_SECONDS = 3600
#: Drawing threads: Pillow and numpy release the GIL, so two threads come close to twice as fast.
WORKERS = min(4, os.cpu_count() or 1)

Colour = tuple[int, int, int]
Rng = np.random.Generator
Draw = ImageDraw.ImageDraw
#: Draws one food centred on (cx, cy), about `length` pixels long, on a transparent layer.
Food = Callable[[Draw, Rng, float, float, float], None]

_BUN = (214, 160, 96)
_SAUSAGE = (205, 72, 58)
_BARE_SAUSAGES = (_SAUSAGE, (222, 180, 135), (135, 72, 42))
_MUSTARD = (236, 196, 30)
_KETCHUP = (196, 28, 24)
_RELISH = (84, 150, 40)
_ONION = (240, 236, 220)


# ---------------------------------------------------------------- colours and shared shapes


def _colour(values: Iterable[float]) -> Colour:
    """Clip to 0..255 and make the plain int tuple Pillow wants."""
    red, green, blue = (int(min(255, max(0, value))) for value in values)
    return red, green, blue


def _random_colour(rng: Rng) -> Colour:
    return _colour(rng.integers(0, 256, 3))


def _jitter(rng: Rng, colour: Colour, amount: int = 18) -> Colour:
    """A colour nudged at random, so no single RGB value identifies a food."""
    return _colour(np.add(colour, rng.integers(-amount, amount + 1, 3)))


def _shade(colour: Colour, factor: float) -> Colour:
    return _colour(c * factor for c in colour)


def _rgba(colour: Colour) -> tuple[int, int, int, int]:
    return (*colour, 255)


def _capsule(draw: Draw, cx: float, cy: float, length: float, thickness: float, colour: Colour) -> None:
    """A horizontal rounded bar: sausages, buns, baguettes and crusts are all made of these."""
    draw.rounded_rectangle((cx - length / 2, cy - thickness / 2, cx + length / 2, cy + thickness / 2),
                           radius=thickness / 2, fill=_rgba(colour))


def _shaded_capsule(draw: Draw, cx: float, cy: float, length: float, thickness: float, colour: Colour) -> None:
    """A capsule with a dark rim and a highlight, so it reads as round rather than as a flat stripe."""
    _capsule(draw, cx, cy, length, thickness, _shade(colour, 0.72))
    _capsule(draw, cx, cy - thickness * 0.04, length - thickness * 0.12, thickness * 0.86, colour)
    _capsule(draw, cx, cy - thickness * 0.22, length * 0.8, thickness * 0.2, _shade(colour, 1.22))


def _zigzag(draw: Draw, rng: Rng, cx: float, cy: float, length: float, amplitude: float, colour: Colour,
            width: float) -> None:
    """A squeezed line of sauce going back and forth along a food."""
    steps = int(rng.integers(5, 11))
    points = [(cx - length / 2 + length * i / steps, cy + amplitude * (1 if i % 2 else -1)) for i in range(steps + 1)]
    draw.line(points, fill=_rgba(colour), width=max(1, round(width)), joint="curve")


def _sprinkle(draw: Draw, rng: Rng, cx: float, cy: float, spread_x: float, spread_y: float, colour: Colour,
              count: int, size: float) -> None:
    """Small blobs scattered over an area: relish, onions, sesame seeds, pepperoni, sprinkles."""
    for _ in range(count):
        x = cx + rng.uniform(-spread_x, spread_x)
        y = cy + rng.uniform(-spread_y, spread_y)
        r = size * rng.uniform(0.7, 1.3)
        draw.ellipse((x - r, y - r * 0.8, x + r, y + r * 0.8), fill=_rgba(_jitter(rng, colour, 12)))


def _toppings(draw: Draw, rng: Rng, cx: float, cy: float, length: float, thickness: float, count: int) -> None:
    """`count` (up to four) of mustard, ketchup, relish and onions, as on a real hot dog stand."""
    for topping in rng.permutation(4)[:count]:
        if topping == 0:
            _zigzag(draw, rng, cx, cy, length, thickness * 0.35, _jitter(rng, _MUSTARD), thickness * 0.22)
        elif topping == 1:
            _zigzag(draw, rng, cx, cy, length, thickness * 0.25, _jitter(rng, _KETCHUP), thickness * 0.28)
        elif topping == 2:
            _sprinkle(draw, rng, cx, cy, length / 2, thickness * 0.3, _RELISH, int(rng.integers(8, 20)),
                      thickness * 0.12)
        else:
            _sprinkle(draw, rng, cx, cy, length / 2, thickness * 0.3, _ONION, int(rng.integers(6, 14)),
                      thickness * 0.1)


def _sausage(draw: Draw, rng: Rng, cx: float, cy: float, length: float, thickness: float,
             colour: Colour = _SAUSAGE) -> None:
    """A sausage (a frankfurter unless told otherwise), sometimes with grill marks."""
    colour = _jitter(rng, colour, 25)
    _shaded_capsule(draw, cx, cy, length, thickness, colour)
    if rng.random() < 0.4:
        dark = _rgba(_shade(colour, 0.5))
        for i in range(int(rng.integers(3, 7))):
            x = cx - length * 0.35 + length * 0.7 * i / 6
            draw.line((x - thickness * 0.25, cy + thickness * 0.3, x + thickness * 0.25, cy - thickness * 0.3),
                      fill=dark, width=max(1, round(thickness * 0.1)))


# ---------------------------------------------------------------- drawable objects, centred on (cx, cy)


def _hotdog(draw: Draw, rng: Rng, cx: float, cy: float, length: float) -> None:
    """A sausage lying in a split bun (from the side or from above), with or without toppings."""
    thickness = length * rng.uniform(0.26, 0.36)
    bun = _jitter(rng, _BUN, 25)
    sausage_length = length * rng.uniform(1.05, 1.25)
    toppings = int(rng.choice(4, p=[0.15, 0.35, 0.3, 0.2]))
    if rng.random() < 0.5:  # side view: the front lip of the bun hides the lower half of the sausage
        _shaded_capsule(draw, cx, cy - thickness * 0.15, length, thickness, _shade(bun, 0.85))
        _sausage(draw, rng, cx, cy - thickness * 0.05, sausage_length, thickness * 0.6)
        _shaded_capsule(draw, cx, cy + thickness * 0.28, length, thickness * 0.55, bun)
        _toppings(draw, rng, cx, cy - thickness * 0.18, sausage_length * 0.75, thickness * 0.45, toppings)
    else:  # from above: both halves of the bun show on either side of the sausage
        _shaded_capsule(draw, cx, cy, length, thickness * 1.2, bun)
        _capsule(draw, cx, cy, length * 0.92, thickness * 0.7, _shade(bun, 1.2))
        _sausage(draw, rng, cx, cy, sausage_length, thickness * 0.6)
        _toppings(draw, rng, cx, cy, sausage_length * 0.75, thickness * 0.5, toppings)


def _bare_sausages(draw: Draw, rng: Rng, cx: float, cy: float, length: float) -> None:
    """One to three frankfurters, bratwursts or grilled sausages with no bun: the closest look-alike."""
    count = int(rng.integers(1, 4))
    thickness = length * rng.uniform(0.14, 0.2)
    colour = _BARE_SAUSAGES[int(rng.integers(len(_BARE_SAUSAGES)))]
    for i in range(count):
        y = cy + (i - (count - 1) / 2) * thickness * 1.3
        _sausage(draw, rng, cx, y, length * rng.uniform(0.9, 1.1), thickness, colour)


def _empty_bun(draw: Draw, rng: Rng, cx: float, cy: float, length: float) -> None:
    """A split hot dog bun with nothing in it."""
    thickness = length * rng.uniform(0.26, 0.36)
    bun = _jitter(rng, _BUN, 25)
    _shaded_capsule(draw, cx, cy - thickness * 0.15, length, thickness, _shade(bun, 0.85))
    _capsule(draw, cx, cy - thickness * 0.05, length * 0.9, thickness * 0.35, _shade(bun, 1.25))
    _shaded_capsule(draw, cx, cy + thickness * 0.28, length, thickness * 0.55, bun)


def _baguette(draw: Draw, rng: Rng, cx: float, cy: float, length: float) -> None:
    """A long golden loaf with diagonal cuts."""
    thickness = length * rng.uniform(0.2, 0.28)
    crust = _jitter(rng, (200, 140, 70), 25)
    _shaded_capsule(draw, cx, cy, length * 1.2, thickness, crust)
    light = _rgba(_shade(crust, 1.3))
    for i in range(int(rng.integers(3, 6))):
        x = cx - length * 0.4 + length * 0.8 * i / 4
        draw.line((x - thickness * 0.3, cy + thickness * 0.2, x + thickness * 0.3, cy - thickness * 0.25),
                  fill=light, width=max(1, round(thickness * 0.15)))


def _banana(draw: Draw, rng: Rng, cx: float, cy: float, length: float) -> None:
    """A yellow curved fruit with brown tips."""
    thickness = length * rng.uniform(0.16, 0.22)
    radius = length * rng.uniform(0.55, 0.8)
    half_angle = math.degrees(length / 2 / radius)
    box = (cx - radius, cy - radius * 1.7, cx + radius, cy + radius * 0.3)
    draw.arc(box, 90 - half_angle, 90 + half_angle, fill=_rgba(_jitter(rng, (236, 206, 60), 20)),
             width=round(thickness))
    for side in (-1, 1):
        angle = math.radians(90 + side * half_angle)
        x = (box[0] + box[2]) / 2 + math.cos(angle) * (radius - thickness / 2)
        y = (box[1] + box[3]) / 2 + math.sin(angle) * (radius - thickness / 2)
        r = thickness * 0.25
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_rgba((90, 60, 30)))


def _carrot(draw: Draw, rng: Rng, cx: float, cy: float, length: float) -> None:
    """An orange taper with a green top."""
    thickness = length * rng.uniform(0.16, 0.24)
    orange = _jitter(rng, (232, 120, 30), 20)
    left = cx - length / 2
    draw.polygon([(left, cy - thickness / 2), (cx + length / 2, cy), (left, cy + thickness / 2)], fill=_rgba(orange))
    draw.ellipse((left - thickness / 2, cy - thickness / 2, left + thickness / 2, cy + thickness / 2),
                 fill=_rgba(orange))
    for i in range(3):
        x = left + length * (0.25 + 0.2 * i)
        draw.line((x, cy - thickness * 0.3, x + thickness * 0.2, cy - thickness * 0.1),
                  fill=_rgba(_shade(orange, 0.7)), width=max(1, round(thickness * 0.08)))
    for spread in (-0.6, 0, 0.6):
        draw.line((left, cy, left - thickness * 1.2, cy + spread * thickness), fill=_rgba((60, 140, 40)),
                  width=max(1, round(thickness * 0.15)))


def _burger(draw: Draw, rng: Rng, cx: float, cy: float, length: float) -> None:
    """A bun, a patty and lettuce seen from the side: same colours as a hot dog, different arrangement."""
    width = length * rng.uniform(0.7, 0.9)
    bun = _jitter(rng, _BUN, 25)
    draw.chord((cx - width / 2, cy - width * 0.55, cx + width / 2, cy + width * 0.15), 180, 360, fill=_rgba(bun))
    _sprinkle(draw, rng, cx, cy - width * 0.3, width * 0.3, width * 0.08, (245, 235, 200), 10, width * 0.02)
    _zigzag(draw, rng, cx, cy - width * 0.17, width * 0.95, width * 0.03, _jitter(rng, _RELISH), width * 0.07)
    if rng.random() < 0.6:
        _capsule(draw, cx, cy - width * 0.1, width * 0.98, width * 0.06, _jitter(rng, (245, 190, 40)))
    _capsule(draw, cx, cy, width * 1.02, width * 0.16, _jitter(rng, (95, 55, 35), 15))
    _capsule(draw, cx, cy + width * 0.14, width * 0.95, width * 0.14, _shade(bun, 0.9))


def _pizza_slice(draw: Draw, rng: Rng, cx: float, cy: float, length: float) -> None:
    """A triangle of cheese with a crust and pepperoni."""
    half = length * rng.uniform(0.25, 0.35)
    tip = (cx + length / 2, cy)
    base = cx - length / 2
    draw.polygon([(base, cy - half), tip, (base, cy + half)], fill=_rgba(_jitter(rng, (240, 200, 90), 20)))
    draw.rounded_rectangle((base - half * 0.25, cy - half * 1.05, base + half * 0.2, cy + half * 1.05),
                           radius=half * 0.2, fill=_rgba(_jitter(rng, (190, 130, 60), 20)))
    _sprinkle(draw, rng, cx - length * 0.15, cy, length * 0.2, half * 0.35, (180, 40, 30),
              int(rng.integers(2, 6)), half * 0.18)


def _taco(draw: Draw, rng: Rng, cx: float, cy: float, length: float) -> None:
    """A folded shell with meat, lettuce and tomato on top."""
    half = length / 2
    rim = cy - half * 0.3
    draw.rectangle((cx - half * 0.9, rim - half * 0.12, cx + half * 0.9, rim + half * 0.02),
                   fill=_rgba(_jitter(rng, (110, 60, 35))))
    _zigzag(draw, rng, cx, rim - half * 0.12, length * 0.9, half * 0.05, _jitter(rng, _RELISH), half * 0.1)
    _sprinkle(draw, rng, cx, rim - half * 0.08, half * 0.8, half * 0.05, (200, 40, 30), 6, half * 0.06)
    draw.chord((cx - half, rim - half * 0.8, cx + half, rim + half * 0.8), 0, 180,
               fill=_rgba(_jitter(rng, (226, 180, 80), 20)))


def _donut(draw: Draw, rng: Rng, cx: float, cy: float, length: float) -> None:
    """A ring with icing and sprinkles."""
    r = length * rng.uniform(0.3, 0.4)
    dough = _jitter(rng, (205, 145, 75), 20)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_rgba(dough))
    icing = [(240, 150, 180), (110, 60, 40), (245, 240, 230)][int(rng.integers(3))]
    draw.ellipse((cx - r * 0.88, cy - r * 0.88, cx + r * 0.88, cy + r * 0.88), fill=_rgba(_jitter(rng, icing)))
    _sprinkle(draw, rng, cx, cy, r * 0.6, r * 0.6, _random_colour(rng), 14, r * 0.05)
    hole = r * 0.32
    draw.ellipse((cx - hole, cy - hole, cx + hole, cy + hole), fill=(0, 0, 0, 0))


#: The look-alikes and how often each is drawn. Telling a bun without a sausage or a sausage without a bun from a hot
#: dog takes "both at once", which the small seed CNN learns last: kept rarer, they make the curve climb for a few
#: epochs instead of stalling below 90%.
_NEGATIVES: dict[Food, float] = {_bare_sausages: 1, _empty_bun: 1, _baguette: 2, _banana: 2, _carrot: 2, _burger: 2,
                                 _pizza_slice: 2, _taco: 2, _donut: 2}


# ---------------------------------------------------------------- scene: background, plate, lighting, camera


@functools.lru_cache(maxsize=4)
def _grid(size: int) -> np.ndarray:
    """Row and column coordinates scaled to 0..1, shared by every background and light gradient of one size."""
    return np.mgrid[0:size, 0:size].astype(np.float32) / size


def _background(rng: Rng, size: int, image_size: int) -> Image.Image:
    """A table, cloth or wall: flat, gradient, stripes, checks or blotchy texture, in muted colours of any hue.

    Drawn at the final size and enlarged (finer detail would be lost on the way down anyway), in colours mixed
    towards grey so that the food, not the table, holds the strongest colours.
    """
    a = np.array(_random_colour(rng), np.float32)
    a = a.mean() * 0.6 + a * 0.4
    b = np.clip(a + rng.uniform(-45, 45, 3), 0, 255).astype(np.float32)
    y, x = _grid(image_size)
    kind = rng.integers(5)
    if kind == 0:
        mix = np.zeros_like(x)
    elif kind == 1:
        angle = rng.uniform(0, 2 * math.pi)
        mix = np.clip((x - 0.5) * math.cos(angle) + (y - 0.5) * math.sin(angle) + 0.5, 0, 1)
    elif kind == 2:
        mix = (np.sin((x + rng.uniform(-0.3, 0.3) * y) * rng.uniform(10, 60)) > 0).astype(np.float32) * 0.5
    elif kind == 3:
        cells = rng.uniform(4, 12)
        mix = ((np.floor(x * cells) + np.floor(y * cells)) % 2).astype(np.float32) * 0.7
    else:
        blotches = rng.random((6, 6)).astype(np.float32)
        mix = np.asarray(Image.fromarray(blotches, "F").resize((image_size, image_size), Image.Resampling.BICUBIC))
        mix = np.clip(mix, 0, 1) * 0.8
    pixels = a + (b - a) * mix[..., None]
    return Image.fromarray(pixels.astype(np.uint8), "RGB").resize((size, size), Image.Resampling.BILINEAR)


def _plate(draw: Draw, rng: Rng, cx: float, cy: float, length: float) -> None:
    """A round plate with a rim under the food (for both classes, so a plate says nothing about the class)."""
    rx, ry = length * rng.uniform(0.6, 0.8), length * rng.uniform(0.45, 0.7)
    colour = _jitter(rng, (235, 235, 230), 20) if rng.random() < 0.85 else _random_colour(rng)
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=_shade(colour, 0.85))
    draw.ellipse((cx - rx * 0.8, cy - ry * 0.8, cx + rx * 0.8, cy + ry * 0.8), fill=colour)


def _occluder(draw: Draw, rng: Rng, size: int) -> None:
    """A napkin, hand or cup edge poking in from a side and covering part of the scene."""
    side = rng.integers(4)
    depth = size * rng.uniform(0.1, 0.25)
    start, end = sorted(rng.uniform(0, size, 2))
    corners = [(start, 0), (end, 0), (end, depth), (start, depth * rng.uniform(0.5, 1.2))]
    if side % 2:
        corners = [(y, x) for x, y in corners]
    if side >= 2:
        corners = [(size - x, size - y) for x, y in corners]
    draw.polygon(corners, fill=_jitter(rng, (220, 190, 170), 60) if rng.random() < 0.5 else _random_colour(rng))


def _place(canvas: Image.Image, rng: Rng, draw_object: Food) -> None:
    """Draw one food on its own layer, turn it, move it and drop it on the canvas with a soft shadow."""
    size = canvas.width
    length = size * CENTRE_FRACTION * rng.uniform(0.7, 0.9)  # the whole food inside the part a model sees
    cx, cy = size / 2 + rng.uniform(-0.05, 0.05, 2) * size
    if rng.random() < 0.5:
        _plate(ImageDraw.Draw(canvas), rng, cx, cy, length)
    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw_object(ImageDraw.Draw(layer), rng, size / 2, size / 2, length)
    food = layer.crop(layer.getbbox()).rotate(rng.uniform(-15, 15), Image.Resampling.BILINEAR, expand=True)
    corner = (round(cx - food.width / 2), round(cy - food.height / 2))
    alpha = food.getchannel("A")
    shadow = alpha.point(lambda v: v * 0.35).filter(ImageFilter.BoxBlur(size / 60))
    offset = round(size * 0.02)
    canvas.paste((0, 0, 0), (corner[0] + offset, corner[1] + offset, corner[0] + offset + food.width,
                             corner[1] + offset + food.height), shadow)
    canvas.paste(food, corner, alpha)


def _camera(image: Image.Image, rng: Rng, image_size: int) -> Image.Image:
    """Crop a little, shrink to the final size, then add uneven light, colour cast, blur and sensor noise."""
    size = image.width
    crop = size * rng.uniform(0.9, 1.0)
    left, top = rng.uniform(0, size - crop, 2)
    image = image.resize((image_size, image_size), Image.Resampling.BILINEAR,
                         box=(left, top, left + crop, top + crop), reducing_gap=None)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    pixels = np.asarray(image, np.float32)
    y, x = _grid(image_size)
    light = 1 + rng.uniform(-0.4, 0.4) * (x - 0.5) + rng.uniform(-0.4, 0.4) * (y - 0.5)
    gain = rng.uniform(0.8, 1.15) * rng.uniform(0.94, 1.06, 3)
    noise = rng.standard_normal(pixels.shape, np.float32) * rng.uniform(0, 8)
    pixels = pixels * light[..., None] * gain + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _pick_negative(rng: Rng) -> Food:
    weights = np.array(list(_NEGATIVES.values()))
    return list(_NEGATIVES)[int(rng.choice(len(weights), p=weights / weights.sum()))]


def draw_example(label: str, seed: int, split: str, index: int, image_size: int = 128) -> Image.Image:
    """One picture of class `label`; the same arguments always give the same pixels."""
    rng = np.random.default_rng([seed, zlib.crc32(split.encode()), CLASSES.index(label), index])
    size = image_size * SUPERSAMPLE
    canvas = _background(rng, size, image_size)
    _place(canvas, rng, _hotdog if label == "hotdog" else _pick_negative(rng))
    if rng.random() < 0.15:
        _occluder(ImageDraw.Draw(canvas), rng, size)
    return _camera(canvas, rng, image_size)


# ---------------------------------------------------------------- writing the dataset


def is_complete(root: str | Path) -> bool:
    """True when `root` holds a finished demo dataset (the marker is written last, just before the rename)."""
    return (Path(root) / MARKER).is_file()


def _marker_text(per_class: dict[str, int], seed: int, image_size: int) -> str:
    counts = ", ".join(f"{split} {count} + {count}" for split, count in per_class.items())
    return ("These images are synthetic drawings made by Hotdog or Not (hotdog.demo_data), not photos.\n"
            "They let the app run offline; a model trained on them recognises drawn hot dogs, not real ones.\n"
            "To recognise real photos, train on a real dataset of hot dog photos.\n"
            f"Settings: seed {seed}, {image_size} x {image_size} pixels, hotdog + nohotdog per split: {counts}.\n")


def _remove_stale_partials(root: Path) -> None:
    """Delete temporary folders left by generations that were killed long ago (recent ones may still be running)."""
    for partial in root.parent.glob(f".{root.name}.partial-*"):
        try:
            if time.time() - partial.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(partial, ignore_errors=True)
        except OSError:
            continue


def _write_images(folder: Path, per_class: dict[str, int], seed: int, image_size: int,
                  progress: Callable[[float], None] | None) -> None:
    """Draw and save every image in a few threads, reporting progress from the calling thread."""
    jobs = [(split, label, index) for split, count in per_class.items() for label in CLASSES for index in range(count)]
    for split, label in {(split, label) for split, label, _ in jobs}:
        (folder / split / label).mkdir(parents=True)

    def write(job: tuple[str, str, int]) -> None:
        split, label, index = job
        image = draw_example(label, seed, split, index, image_size)
        image.save(folder / split / label / f"{label}_{index:04d}.jpg", "JPEG", quality=JPEG_QUALITY)

    pool = ThreadPoolExecutor(max_workers=WORKERS)
    try:
        for done, _ in enumerate(pool.map(write, jobs), 1):
            if progress is not None:
                progress(done / len(jobs))
    finally:  # on an interruption, stop at once rather than drawing the remaining images first
        pool.shutdown(cancel_futures=True)


def generate(root: str | Path, *, per_class: dict[str, int] | None = None, seed: int = 0, image_size: int = 128,
             progress: Callable[[float], None] | None = None) -> Path:
    """Draw the demo dataset into `root` (`ROOT/{split}/{hotdog,nohotdog}/*.jpg`) and return its path.

    The images are built in a hidden sibling folder and renamed into place at the end, so an interrupted run
    never leaves a half dataset that looks complete. A root that already holds a complete dataset is returned
    as it is; a non-empty root that is not a demo dataset is refused rather than overwritten.
    """
    root = Path(root).expanduser()
    per_class = dict(DEFAULT_SPLITS if per_class is None else per_class)
    if seed < 0 or image_size < 16 or not per_class or min(per_class.values()) < 1:
        raise ValueError("seed must be >= 0, image_size >= 16, and every split needs at least one image per class")
    if is_complete(root):
        return root
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root} already holds files that are not a demo dataset; choose an empty folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(root)
    partial = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        _write_images(partial, per_class, seed, image_size, progress)
        (partial / MARKER).write_text(_marker_text(per_class, seed, image_size), encoding="utf-8")
        os.chmod(partial, 0o755)  # mkdtemp makes it private; the dataset should be as readable as any folder
        try:
            os.replace(partial, root)
        except OSError:
            if not is_complete(root):  # someone else finishing first is fine; anything else is an error
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return root

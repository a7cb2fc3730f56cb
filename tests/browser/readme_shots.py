"""README's screenshots, copied from the screenshot tests' baselines (``tests/browser/screenshots/``) to
``docs/screenshots/``: the top of each main page, in 256 colours, so that the README shows what the tests check.

Run by ``make screenshots`` after the baselines are rewritten; ``python -m tests.browser.readme_shots``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
BASELINES = ROOT / "tests" / "browser" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"


@dataclass(frozen=True)
class Shot:
    """One README image: a baseline, cut to at most ``width`` x ``height`` from its top-left corner."""

    baseline: str
    width: int
    height: int


#: The README's images by file name. The phone view is cut to the phone's width: what its screen shows first.
SHOTS = {
    "dashboard.png": Shot("dashboard-1400", 1400, 1100),
    "client.png": Shot("client-1400", 1400, 1100),
    "message.png": Shot("message-1400", 1400, 1100),
    "ingest-log.png": Shot("inbound-1400", 1400, 1100),
    "dashboard-phone.png": Shot("dashboard-390", 390, 1400),
}


def publish(shot: Shot, target: Path) -> int:
    """Write ``shot`` to ``target`` as a palette PNG (screens are mostly flat colour: 256 suffice); its size."""
    with Image.open(BASELINES / f"{shot.baseline}.png") as image:
        cut = image.convert("RGB").crop((0, 0, min(shot.width, image.width), min(shot.height, image.height)))
    cut.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(target, optimize=True)
    return target.stat().st_size


def main() -> int:
    """Write every ``SHOTS`` image; 1 when a baseline is missing (run the screenshot tests with
    ``UPDATE_SCREENSHOTS=1`` first)."""
    missing = [s.baseline for s in SHOTS.values() if not (BASELINES / f"{s.baseline}.png").exists()]
    if missing:
        print(f"missing baselines under {BASELINES}: {', '.join(missing)}", file=sys.stderr)
        return 1
    DOCS.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, shot in SHOTS.items():
        size = publish(shot, DOCS / name)
        total += size
        print(f"{DOCS / name}: {size // 1024} KiB")
    print(f"total {total // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

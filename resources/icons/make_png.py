"""Render ``workbench.svg`` to PNG app icons (run after editing the SVG).

Run: ``python resources/icons/make_png.py`` (needs PySide6; works without a display).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (256, 64, 32)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(HERE / "workbench.svg"))
    if not renderer.isValid():
        raise SystemExit("workbench.svg is not a valid SVG")
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        name = "workbench.png" if size == 256 else f"workbench-{size}.png"
        image.save(str(HERE / name))
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

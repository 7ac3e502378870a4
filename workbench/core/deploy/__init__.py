"""Export trained runs as verified ONNX bundles (see :mod:`workbench.core.onnx_export`).

Importing this package imports neither torch nor onnxruntime.
"""
from __future__ import annotations

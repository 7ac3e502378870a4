"""Export trained runs as verified ONNX bundles (see :mod:`workbench.core.deploy.onnx_export`).

Importing this package imports neither torch nor onnxruntime.
"""
from __future__ import annotations

__all__ = ["PARITY_TOLERANCE", "F1_DROP_WARNING"]

#: Largest allowed |fp32 ONNX logit - PyTorch logit| on the validation texts.
PARITY_TOLERANCE = 1e-4
#: A macro-F1 drop (int8 vs fp32) above this many points is reported as a warning.
F1_DROP_WARNING = 1.0

"""Workbench: label text, fine-tune BERT-family classifiers, export quantized ONNX models."""

__version__ = "0.1.0"
__all__ = ["__version__"]

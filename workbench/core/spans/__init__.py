"""Span (entity) projects outside the store: file formats, import and export, token
alignment, training, metrics, export to ONNX and assistance for token classification."""

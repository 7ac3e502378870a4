"""A tiny randomly initialised BERT with a locally built tokenizer, for fast ML tests.

The builder is the one the installation self-test uses (``workbench.selftest``), so the
tests and ``workbench --self-test`` exercise the same model.
"""
from __future__ import annotations

from workbench.selftest import make_tiny_base_model

__all__ = ["make_tiny_base_model"]

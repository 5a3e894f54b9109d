"""The embedding backends, and which of them give the same vectors (no heavy imports here:
the store and the configuration read it)."""

from __future__ import annotations

BACKENDS = ("torch", "onnx", "onnx-int8")
# The fastest backend whose MRR@10 on the CMRC trial stays within 0.005 of torch fp32
# (`make bench-backends`, docs/benchmark.md).
DEFAULT_BACKEND = "onnx"


def vector_family(backend: str) -> str:
    """Which backends give the same vectors: torch and fp32 ONNX agree to cos 1.0000, so an index
    built with one is read with the other; int8 vectors differ (cos ~0.98) and need their own."""
    return "int8" if backend == "onnx-int8" else "fp32"

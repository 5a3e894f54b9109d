"""An LLM writing the answer from the extracted passages: client.py (the OpenAI-compatible
connection, with its timeout and errors), generate.py (the prompt, the streamed answer, the
fall-back to the extractive one) and grounding.py (each sentence checked against the passages
before it is shown)."""

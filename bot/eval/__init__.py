"""Measuring the bot, apart from the bot itself: evaluate.py (CMRC 2018 in every retrieval mode),
qa_eval.py (the worker-question dev sets), legal_data.py and legal_eval.py (legal_train's
held-out fold), backend_eval.py (the embedding backends side by side), calibrate.py (fitting the
answer decision) and runners.py (what `unionqa eval` runs). Nothing in the answering path
imports from here."""

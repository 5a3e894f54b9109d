"""The embedding backends side by side: index speed and quality, from one `unionqa eval --backends` run.

Each backend's report is an ordinary `unionqa eval` report (bot.evaluate, bot.qa_eval); this module
reads the figures that decide the default backend out of them and picks it: the fastest backend
whose MRR@10 stays within `MRR_TOLERANCE` of the baseline (torch fp32) and that answers as many
worker questions right (the bundled calibration was fitted on fp32 vectors; a backend with other
vectors must not lose answers under it).
"""

from __future__ import annotations

MRR_TOLERANCE = 0.005
BASELINE = "torch"
SAME_AS_BASELINE = "onnx"  # the same vectors: the baseline when torch was not run


def backend_rows(reports: dict[str, dict], mode: str) -> list[dict]:
    """One row per backend, in the order run: chunks/s (and its ratio to the baseline's),
    retrieval and answer figures in `mode`, and for every worker-question set its right answers."""
    rows = []
    for backend, report in reports.items():
        row: dict = {"backend": backend}
        figures = report.get("modes", {}).get(mode, {})
        index = report.get("index") or report.get("qa_index") or {}
        if index.get("chunks_per_second"):
            row["chunks_per_second"] = index["chunks_per_second"]
        for key in ("hit@5", "mrr@10", "answer_hit", "latency_ms_p50", "latency_ms_p95"):
            if key in figures:
                row[key] = figures[key]
        for stem, entry in report.get("qa", {}).items():
            groups = entry["modes"].get(mode, {}).get("groups", {})
            if "all" in groups:
                row[f"{stem} answered_right"] = groups["all"].get("answered_right_n")
                row[f"{stem} oos_answered"] = groups["all"].get("oos_answered_n")
        rows.append(row)
    base = _baseline(rows) or (rows[0] if rows else None)
    for row in rows:
        if base and base.get("chunks_per_second") and row.get("chunks_per_second"):
            row["speed_vs_" + base["backend"]] = round(row["chunks_per_second"] / base["chunks_per_second"], 2)
    return rows


def _baseline(rows: list[dict]) -> dict | None:
    by_name = {r["backend"]: r for r in rows}
    return by_name.get(BASELINE) or by_name.get(SAME_AS_BASELINE)


def _right(value: str | None) -> int:
    return int(value.split("/")[0]) if value else 0


def choose_default(rows: list[dict]) -> str | None:
    """The fastest backend whose MRR@10 is within MRR_TOLERANCE of the baseline's and that answers
    no fewer worker questions right, on the figures present (None without a baseline)."""
    base = _baseline(rows)
    if base is None:
        return None

    def keeps_quality(row: dict) -> bool:
        if "mrr@10" in base and abs(row.get("mrr@10", -1.0) - base["mrr@10"]) > MRR_TOLERANCE + 1e-9:
            return False
        rights = [k for k in base if k.endswith(" answered_right")]
        return all(_right(row.get(k)) >= _right(base[k]) for k in rights)

    good = [r for r in rows if r.get("chunks_per_second") and keeps_quality(r)]
    return max(good, key=lambda r: r["chunks_per_second"])["backend"] if good else None


def format_backend_table(rows: list[dict]) -> str:
    columns = [c for c in dict.fromkeys(k for r in rows for k in r) if c != "backend"]
    lines = ["| backend | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row['backend']} | " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)

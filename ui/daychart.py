"""The console's chart of questions per day, as server-side SVG: no chart script, no CDN.

Stacked bars, one per day, coloured by outcome. Every piece of text (dates, numbers,
labels) is escaped, though only the server's own figures go in."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

OUTCOME_LABELS = {"answered": "已回答", "related": "相关内容", "refused": "未能回答", "curated": "审核回答"}
COLOURS = {"answered": "#2e7d32", "related": "#f9a825", "refused": "#c62828", "curated": "#1565c0"}
WIDTH, HEIGHT = 640, 220
LEFT, BOTTOM, TOP = 36, 28, 10


def day_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def days_chart(daily: list[tuple[str, dict[str, int]]], first: date, last: date) -> str:
    """SVG of `daily` ([(YYYY-MM-DD, {outcome: n})]) from `first` to `last`, empty days included."""
    by_day = dict(daily)
    days = day_range(first, last)
    peak = max([sum(by_day.get(d.isoformat(), {}).values()) for d in days] + [1])
    top = _nice(peak)
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    step = plot_w / max(len(days), 1)
    bar = max(step * 0.75, 1.0)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape("每日提问数量，按回答结果分色")}" xmlns="http://www.w3.org/2000/svg">']
    for tick in (0, top // 2, top):
        y = TOP + plot_h - plot_h * tick / top
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - 4}" y2="{y:.1f}" stroke="#ddd" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#555">'
                     f'{escape(str(tick))}</text>')
    label_every = max(1, len(days) // 6)
    for i, day in enumerate(days):
        counts = by_day.get(day.isoformat(), {})
        x = LEFT + i * step + (step - bar) / 2
        y = TOP + plot_h
        for outcome in OUTCOME_LABELS:
            n = counts.get(outcome, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            tip = f"{day.isoformat()} {OUTCOME_LABELS[outcome]} {n}"
            parts.append(f'<rect class="bar-{outcome}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{COLOURS[outcome]}"><title>{escape(tip)}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle" font-size="11" '
                         f'fill="#555">{escape(day.strftime("%m-%d"))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nice(peak: int) -> int:
    """A round top for the axis at or above `peak` (even, so its half is whole)."""
    for base in (2, 4, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000):
        if peak <= base:
            return base
    return peak + peak % 2

"""OCR benchmark (issue 20): character error rate, speed, and answers from a scanned law.

1. The bundled 女职工劳动保护特别规定 is rendered page by page at 150 dpi with the CJK font
   (tests/fixtures/office.py). Its first page is read straight, and rotated by 2° with 2 %
   of the pixels speckled; CER = edit distance / reference length, after NFKC (OCR writes
   ASCII punctuation for full-width) and without whitespace.
2. Pages per minute: every page of that law, read through the parse worker (the sandbox,
   as `unionqa build` reads it), timed.
3. The worker questions of laws_dev.json on that law, asked with `unionqa eval` on the
   bundled corpus with the law as text and again with the law as an image-only PDF:
   answered right, each.

    python scripts/bench_ocr.py [--qa ../shared/data/laws_dev.json] [--skip-qa]

Writes reports/bench-ocr.json and prints a table. Not a test: it takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from corpus import DEFAULT_CORPUS_DIR  # noqa: E402
from corpus.loader import document_from_bytes  # noqa: E402
from corpus.ocr import recognize  # noqa: E402
from corpus.sandbox import ParseWorker  # noqa: E402
from tests.fixtures.office import png_bytes, render_lines, render_pages, scanned_pdf, wrap_lines  # noqa: E402

LAW = "女职工劳动保护特别规定"


def normalized(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(reference: str, recognized: str) -> float:
    reference, recognized = normalized(reference), normalized(recognized)
    return edit_distance(reference, recognized) / max(len(reference), 1)


def law_lines() -> tuple[Path, list[str]]:
    path = next((DEFAULT_CORPUS_DIR / "laws").glob(f"{LAW}*.md"))
    doc = document_from_bytes(path.read_bytes(), path.name)
    return path, [doc.title] + [doc.paragraph_text(p) for p in doc.paragraphs]


def ask(corpus: Path, qa: Path, out: Path) -> dict:
    command = [str(ROOT / ".venv" / "bin" / "unionqa"), "eval", "--corpus", str(corpus), "--qa", str(qa),
               "--modes", "hybrid", "--out", str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return json.loads(out.read_text(encoding="utf-8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", default=str(ROOT.parent / "shared" / "data" / "laws_dev.json"))
    parser.add_argument("--skip-qa", action="store_true", help="only CER and speed")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench-ocr.json"))
    args = parser.parse_args()
    reports = Path(args.out).parent
    reports.mkdir(parents=True, exist_ok=True)
    law_path, lines = law_lines()
    pages = render_pages(lines)
    figures: dict = {"law": LAW, "pages": len(pages), "dpi": 150}

    # 1. CER, straight and rotated 2° with noise, on the first page
    first_page = wrap_lines(lines)[:40]
    reference = "".join(t for t, _ in first_page)
    for name, image in (("straight", render_lines(first_page)),
                        ("rotated_2deg_noise", render_lines(first_page, rotate=2.0, noise=0.02, seed=20))):
        started = time.perf_counter()
        text = "".join(line.text for line in recognize(image))
        figures[f"cer_{name}"] = round(cer(reference, text), 5)
        figures[f"seconds_{name}"] = round(time.perf_counter() - started, 2)
        print(f"CER {name}: {figures[f'cer_{name}']:.2%} ({figures[f'seconds_{name}']} s)", flush=True)

    # 2. speed: the whole law as an image-only PDF, through the parse worker
    work = reports / "ocr-bench"
    shutil.rmtree(work, ignore_errors=True)
    scanned_corpus = work / "corpus-scanned"
    shutil.copytree(DEFAULT_CORPUS_DIR, scanned_corpus)
    scanned_law = scanned_corpus / "laws" / law_path.name
    scanned_law.unlink()
    pdf_path = scanned_law.with_suffix(".pdf")
    pdf_path.write_bytes(scanned_pdf([image for image, _ in pages]))
    (work / "page1.png").write_bytes(png_bytes(pages[0][0]))
    worker = ParseWorker()
    try:
        worker.load(work / "page1.png", "page1.png", "warm-up")  # the worker's start and model load, not timed
        started = time.perf_counter()
        doc = worker.load(pdf_path, f"laws/{pdf_path.name}", "laws/scanned")
        seconds = time.perf_counter() - started
    finally:
        worker.close()
    figures["ocr_seconds"] = round(seconds, 1)
    figures["pages_per_minute"] = round(len(pages) / seconds * 60, 1)
    figures["scan_cer_whole_law"] = round(cer("".join(text for _, text in pages), doc.text), 5)
    figures["scan_articles"] = sum(1 for p in doc.paragraphs if doc.paragraph_text(p).startswith("第") and "条" in
                                   doc.paragraph_text(p)[:6])
    print(f"speed: {len(pages)} pages in {seconds:.1f} s = {figures['pages_per_minute']} pages/min; "
          f"whole-law CER {figures['scan_cer_whole_law']:.2%}", flush=True)

    # 3. the law's worker questions on the text and on the scan
    if not args.skip_qa and Path(args.qa).is_file():
        data = json.loads(Path(args.qa).read_text(encoding="utf-8"))
        asked = [q for q in data["answerable"] if q.get("doc") == LAW]
        qa = work / "laws_dev_women.json"
        qa.write_text(json.dumps({"about": f"laws_dev.json: the questions on {LAW}", "answerable": asked,
                                  "refuse": [], "dialogues": []}, ensure_ascii=False), encoding="utf-8")
        for name, corpus in (("text", DEFAULT_CORPUS_DIR), ("scanned", scanned_corpus)):
            started = time.perf_counter()
            result = ask(corpus, qa, work / f"eval-{name}.json")
            figures[f"answered_right_{name}"] = _answered_right(result)
            figures[f"eval_seconds_{name}"] = round(time.perf_counter() - started, 1)
            print(f"{name}: answered right {figures[f'answered_right_{name}']}", flush=True)
        figures["questions"] = len(asked)
        text, scanned = figures["answered_right_text"], figures["answered_right_scanned"]
        figures["target_met"] = scanned >= text - 0.05
    Path(args.out).write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    return 0


def _answered_right(result: dict) -> float:
    """answered_right of the hybrid mode on the answerable questions, wherever eval put it."""
    found: list[tuple[list, float]] = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "answered_right" and isinstance(value, (int, float)):
                    found.append((path, value))
                walk(value, path + [key])
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, path + [str(i)])

    walk(result, [])
    if not found:
        raise SystemExit(f"no answered_right in the eval output: {list(result)}")
    return found[0][1]


if __name__ == "__main__":
    raise SystemExit(main())

"""Time `cmr build` on a sample against bare WeasyPrint rendering the same HTML.

Both sides run as fresh processes (interpreter start and imports included on both), render
both documents, and are repeated; the median is reported. The tool's overhead is the part
of `cmr build` that is not WeasyPrint's render: loading and validating YAML, the context,
Jinja, hashing and writing.

    python benchmarks/bench_build.py [FILING.yaml] [--runs N] [--max-overhead 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FILING = REPO / "sample_inputs" / "acme-2025" / "filing.yaml"

BARE_WEASYPRINT = """
import sys
from pathlib import Path
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
theme, out = Path(sys.argv[1]), Path(sys.argv[2])
for html in sys.argv[3:]:
    fonts = FontConfiguration()
    css = CSS(filename=str(theme / "css" / "fonts.css"), font_config=fonts)
    HTML(filename=html, base_url=theme.as_uri() + "/").write_pdf(
        out / (Path(html).stem + ".pdf"), stylesheets=[css], font_config=fonts
    )
"""


STAGES = """
import sys, time
from pathlib import Path
t0 = time.perf_counter()
import weasyprint
t1 = time.perf_counter()
from conflict_minerals import build as b
from conflict_minerals.report.context import build_context
from conflict_minerals.filing.loader import load_filing
t2 = time.perf_counter()
loaded = load_filing(Path(sys.argv[1]))
t3 = time.perf_counter()
context = build_context(loaded)
t4 = time.perf_counter()
pages = b.render_html(loaded, context)
t5 = time.perf_counter()
pdfs = {stem: b._pdf(loaded, html) for stem, html in pages.items()}
t6 = time.perf_counter()
print(f"{t1-t0:.3f} {t2-t1:.3f} {t3-t2:.3f} {t4-t3:.3f} {t5-t4:.3f} {t6-t5:.3f}")
"""


def stage_times(filing: Path) -> list[float]:
    """Seconds per stage in one process: WeasyPrint import, tool imports, load+validate,
    context, Jinja, PDF render."""
    result = subprocess.run(
        [sys.executable, "-c", STAGES, str(filing)], check=True, capture_output=True, text=True
    )
    return [float(x) for x in result.stdout.split()]


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("filing", nargs="?", type=Path, default=DEFAULT_FILING)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-overhead", type=float, default=15.0, help="percent; exit 1 above it")
    args = parser.parse_args()

    from conflict_minerals.report.templating import builtin_theme_dir

    theme = builtin_theme_dir()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "build"
        bare_out = Path(scratch) / "bare"
        bare_out.mkdir()
        cmr = [sys.executable, "-m", "conflict_minerals", "build", str(args.filing), "--out", str(out)]
        subprocess.run(cmr, check=True, capture_output=True)  # warm the file cache
        html = sorted(str(p) for p in out.glob("*.html"))
        bare = [sys.executable, "-c", BARE_WEASYPRINT, str(theme), str(bare_out), *html]

        cmr_times, bare_times = [], []
        for _ in range(args.runs):  # interleaved so machine noise hits both alike
            cmr_times.append(timed(cmr))
            bare_times.append(timed(bare))

    stages = [stage_times(args.filing) for _ in range(3)]
    names = ("import WeasyPrint", "import the tool", "load + validate", "context", "Jinja", "PDF render")
    medians = [statistics.median(run[i] for run in stages) for i in range(len(names))]
    print("in-process stages (median of 3):")
    for name, seconds in zip(names, medians, strict=True):
        print(f"  {name:<18} {seconds * 1000:7.0f} ms")
    own = sum(medians[1:5])
    print(f"  tool's own work    {own * 1000:7.0f} ms = {own / medians[5] * 100:.1f}% of the PDF render")

    cmr_median = statistics.median(cmr_times)
    bare_median = statistics.median(bare_times)
    overhead = (cmr_median - bare_median) / bare_median * 100
    print(f"filing:            {args.filing}")
    print(f"documents:         {', '.join(Path(h).name for h in html)}")
    print(f"runs:              {args.runs}")
    for label, times, median in (
        ("cmr build", cmr_times, cmr_median),
        ("bare WeasyPrint", bare_times, bare_median),
    ):
        print(f"{label + ':':<19}median {median:.2f} s  (min {min(times):.2f}, max {max(times):.2f})")
    print(f"tool overhead:     {cmr_median - bare_median:+.2f} s = {overhead:+.1f}% of the render time")
    if overhead > args.max_overhead:
        print(f"FAIL: overhead above {args.max_overhead}%")
        return 1
    print(f"ok: within {args.max_overhead}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())

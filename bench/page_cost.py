"""What one fetched article page costs before matching, with and without a watch term on it.

A poll reads every article page (:func:`spiders.extraction.read_page`), scans its whole text
for every watch's terms at once (``WatchSet.mentioned``), and judges where words sit
(:func:`spiders.extraction.article_text`) only when some term occurs. This script measures, on
the shared corpus's article pages and the generated watches of ``bench/match_watches.py``:

  read      read_page alone: parse, metadata, blocks
  scan      WatchSet.mentioned over the page's visible text
  judge     article_text: three extractors, signals, weighing (the baseline: what every page
            would cost if the analysis ran on all of them)

and reports ms per page for each, the share of pages the scan lets skip the judging, and the
ratio of judge to read + scan for those pages.

Usage, from the repository root::

    python bench/page_cost.py [--corpus PATH] [--watches 1000] [--pages 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.watchset import WatchSet
from bench.detection_quality import default_corpus, load_articles
from bench.match_watches import build_watches
from spiders.extraction import article_text, read_page


def _ms(started: float) -> float:
    return 1000 * (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--watches", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=60)
    args = parser.parse_args(argv)
    pages = load_articles(args.corpus)[: args.pages]
    watchset = WatchSet(build_watches(args.watches, seed=1))
    read_page(pages[0].html, pages[0].url)  # warm-up: imports and caches
    reads, scans, judges, skipped = [], [], [], 0
    for page in pages:
        started = time.perf_counter()
        read = read_page(page.html, page.url)
        reads.append(_ms(started))
        if read is None:
            continue
        started = time.perf_counter()
        mentioned = watchset.mentioned(read.visible_text)
        scans.append(_ms(started))
        started = time.perf_counter()
        article_text(read)
        judges.append(_ms(started))
        skipped += not mentioned
    read_ms, scan_ms, judge_ms = (statistics.mean(x) for x in (reads, scans, judges))
    print(f"{len(reads)} article pages, {args.watches:,} watches")
    print(f"  read  {read_ms:7.1f} ms/page")
    print(f"  scan  {scan_ms:7.1f} ms/page")
    print(f"  judge {judge_ms:7.1f} ms/page")
    print(f"pages with no watch term (judging skipped): {skipped}/{len(reads)}")
    print(
        f"cost of such a page: read + scan {read_ms + scan_ms:.1f} ms against "
        f"read + judge {read_ms + judge_ms:.1f} ms: "
        f"{(read_ms + judge_ms) / (read_ms + scan_ms):.1f}x cheaper"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

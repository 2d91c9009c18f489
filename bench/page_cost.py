"""What one fetched article page costs before matching, with and without a watch term on it.

A poll gives every article page a first look (:func:`newswatch.spiders.metadata.glance`: metadata and all
visible text), scans that text for every watch's terms at once (``WatchSet.mentioned``), and
only when some term occurs reads the page's blocks (:func:`newswatch.spiders.extraction.read_page`) and
judges where words sit (:func:`newswatch.spiders.extraction.article_text`). This script measures, on the
shared corpus's article pages and the generated watches of ``bench/match_watches.py``:

  look      glance: one resiliparse parse, metadata, the text of the whole page
  scan      WatchSet.mentioned over that text
  judge     read_page + article_text for these watches: lxml blocks, then the judging in two
            stages (resiliparse and the signals first; the two trafilatura passes only where
            the first stage is unsure about a block holding a watch term); what every page
            would cost if the analysis ran on all of them

and reports ms per page for each, the share of pages the scan lets skip the judging, the share
of pages the first stage decided alone, and the ratio of look + judge to look + scan for the
pages with no watch term. All of it runs in the crawl's worker
processes, off the reactor thread (spiders/analysis.py).

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

import trafilatura

from bench.detection_quality import default_corpus, load_articles
from bench.match_watches import build_watches
from newswatch.alerts.watchset import WatchSet
from newswatch.spiders.extraction import article_text, read_page
from newswatch.spiders.metadata import glance


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
    looks, scans, judges, skipped, full = [], [], [], 0, 0
    extract = trafilatura.bare_extraction
    passes: list[str] = []

    def counted(*args: object, **kwargs: object) -> object:  # the full judging's passes
        passes.append("")
        return extract(*args, **kwargs)  # type: ignore[arg-type]

    trafilatura.bare_extraction = counted  # type: ignore[assignment]
    for page in pages:
        started = time.perf_counter()
        first = glance(page.html, page.url)
        looks.append(_ms(started))
        if first is None:
            continue
        started = time.perf_counter()
        mentioned = watchset.mentioned(first.visible_text)
        scans.append(_ms(started))
        started = time.perf_counter()
        read = read_page(page.html, page.url, first)
        passes.clear()
        if read is not None:
            article_text(read, watchset.mentioned)
        judges.append(_ms(started))
        full += bool(passes)
        skipped += not mentioned
    look_ms, scan_ms, judge_ms = (statistics.mean(x) for x in (looks, scans, judges))
    print(f"{len(looks)} article pages, {args.watches:,} watches")
    print(f"  look  {look_ms:7.1f} ms/page")
    print(f"  scan  {scan_ms:7.1f} ms/page")
    print(f"  judge {judge_ms:7.1f} ms/page")
    print(f"pages with no watch term (judging skipped): {skipped}/{len(looks)}")
    print(f"pages judged by the first stage alone: {len(looks) - full}/{len(looks)}")
    print(
        f"cost of such a page: look + scan {look_ms + scan_ms:.1f} ms against "
        f"look + judge {look_ms + judge_ms:.1f} ms: "
        f"{(look_ms + judge_ms) / (look_ms + scan_ms):.1f}x cheaper"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

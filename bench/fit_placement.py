"""Fit the weights of spiders/judging.py on the shared corpus, and show how they hold on new sites.

Every block of every page of the three dev sets (see ``bench/detection_quality.py``) is
described by the product's own :func:`spiders.placement.block_features`, computed through
:func:`spiders.extraction.read_page` and :func:`spiders.extraction.evidence_of`, and labelled:

  articles     article text when the block's text is part of the human ``articleBody``
  readability  article text when it is part of Readability.js's ``expected.html`` (a weaker
               reference, so these blocks weigh less)
  boilerplate  only the blocks holding a probe are labelled: ``with`` -> article,
               ``without`` -> furniture (spot checks, so each weighs more)

Blocks of one word are left out of the labels (a lone "Home" is part of any body by chance),
and so are blocks that :func:`spiders.placement.named_furniture` rules out whatever their score.

A logistic regression (scikit-learn, ``pip install -e '.[bench]'``) is then cross-validated
with the pages split into folds *by site*, so that no site is ever both trained and judged,
and the probes of detection_quality are scored on the held-out pages exactly as the product
decides: a block is article text when its score reaches the threshold, and a probe alerts when
it matches the title or those blocks. Those held-out numbers are the estimate for sites never
seen; the numbers ``detection_quality.py`` prints after the weights are in place are measured
on pages the weights were fitted on.

Finally the model is fitted on all pages and printed as the Python table to paste into
``spiders/judging.py``.

Usage, from the repository root::

    python bench/fit_placement.py [--corpus PATH] [--folds 5] [--cache FILE]

``--cache`` keeps the computed features in FILE (pickle) so that a second run only refits.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.detection_quality import LOADERS, Page, _matches, default_corpus
from spiders.extraction import evidence_of, read_page
from spiders.judging import is_article
from spiders.placement import FEATURES, block_features, named_furniture

__all__ = ["Labelled", "label_page"]

_WEIGHT = {"articles": 1.0, "readability": 0.5, "boilerplate": 10.0}
_THRESHOLDS = (0.3, 0.4, 0.5, 0.6)


@dataclass
class Labelled:
    page: Page
    title: str
    texts: list[str]
    rows: list[list[float]]
    labels: list[int | None]
    furniture: list[bool]  # named furniture: never article text, whatever the score


def label_page(page: Page) -> Labelled:
    """The product's features for every block of ``page``, with the labels the set gives."""
    read = read_page(page.html, page.url)
    if read is None or not read.blocks:
        return Labelled(page, read.title if read else "", [], [], [], [])
    evidence = evidence_of(read)
    rows = block_features(read.blocks, evidence)
    furniture = [kind is not None for kind in named_furniture(read.blocks, evidence)]
    reference = " ".join(page.reference.split())
    labels: list[int | None] = []
    for block in read.blocks:
        label: int | None = None
        if reference:
            label = None if block.words < 2 else int(block.text in reference)
        else:
            if any(_matches(p, "", block.text) for p in page.furniture):
                label = 0
            if any(_matches(p, "", block.text) for p in page.main):
                label = 1
        labels.append(label)
    return Labelled(page, read.title, [b.text for b in read.blocks], rows, labels, furniture)


def _site(page: Page) -> str:
    host = urlsplit(page.url).hostname or ""
    if page.dataset == "readability" or host in ("", "example.org"):
        return f"{page.dataset}:{page.page_id}"
    return host.removeprefix("www.")


def _training(pages: list[Labelled]) -> tuple[list[list[float]], list[int], list[float]]:
    x: list[list[float]] = []
    y: list[int] = []
    w: list[float] = []
    for item in pages:
        for row, label, named in zip(item.rows, item.labels, item.furniture, strict=True):
            if label is not None and not named:
                x.append(row)
                y.append(label)
                w.append(_WEIGHT[item.page.dataset])
    return x, y, w


def _fit(pages: list[Labelled]):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    x, y, w = _training(pages)
    return LogisticRegression(C=1.0, max_iter=5000).fit(x, y, sample_weight=w)


def _quoted(row: list[float]) -> bool:
    """The caption / quotation rule of spiders.judging.is_article, whatever the score."""
    return is_article(row, 0.0, None)


def _score(items: list[tuple[Labelled, list[float]]], threshold: float) -> tuple[float, float]:
    main = found = furniture = false = 0
    for item, scores in items:
        text = "\n".join(
            t
            for t, row, s, named in zip(item.texts, item.rows, scores, item.furniture, strict=True)
            if (s >= threshold and not named) or (not named and _quoted(row))
        )
        for phrase in item.page.main:
            main += 1
            found += _matches(phrase, item.title, text)
        for phrase in item.page.furniture:
            furniture += 1
            false += _matches(phrase, item.title, text)
    return found / main, false / furniture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cache", type=Path, help="pickle of the computed features")
    args = parser.parse_args(argv)
    if args.cache and args.cache.exists():
        pages: list[Labelled] = pickle.loads(args.cache.read_bytes())
    else:
        pages = [label_page(p) for loader in LOADERS.values() for p in loader(args.corpus)]
        if args.cache:
            args.cache.write_bytes(pickle.dumps(pages))
    sites = sorted({_site(item.page) for item in pages})
    fold_of = {site: i % args.folds for i, site in enumerate(sites)}
    held_out: list[tuple[Labelled, list[float]]] = []
    for fold in range(args.folds):
        model = _fit([p for p in pages if fold_of[_site(p.page)] != fold])
        for item in pages:
            if fold_of[_site(item.page)] == fold:
                scores = list(model.predict_proba(item.rows)[:, 1]) if item.rows else []
                held_out.append((item, scores))
    print(f"held out by site ({args.folds} folds, {len(sites)} sites): recall / false alerts")
    for threshold in _THRESHOLDS:
        cells = []
        for dataset in LOADERS:
            subset = [(i, s) for i, s in held_out if i.page.dataset == dataset]
            recall, false = _score(subset, threshold)
            cells.append(f"{dataset} {recall:.3f} / {false:.3f}")
        print(f"  threshold {threshold}: " + "   ".join(cells))
    model = _fit(pages)
    print("\n# Fitted by bench/fit_placement.py (see its docstring for the data and the command).")
    print(f"INTERCEPT = {model.intercept_[0]:.3f}")
    print("WEIGHTS: dict[str, float] = {")
    for name, weight in zip(FEATURES, model.coef_[0], strict=True):
        print(f'    "{name}": {weight:.3f},')
    print("}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

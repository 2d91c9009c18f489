"""Fit the weights of spiders/judging.py on the shared corpus, and show how they hold on new sites.

Every block of every page of the three dev sets (see ``bench/detection_quality.py``) is
described by the product's own :func:`newswatch.spiders.placement.block_features`, computed through
:func:`newswatch.spiders.extraction.read_page` and :func:`newswatch.spiders.extraction.evidence_of`, and labelled:

  articles     article text when the block's text is part of the human ``articleBody``
  readability  article text when it is part of Readability.js's ``expected.html`` (a weaker
               reference, so these blocks weigh less)
  boilerplate  only the blocks holding a probe are labelled: ``with`` -> article,
               ``without`` -> furniture (spot checks, so each weighs more)

Blocks of one word are left out of the labels (a lone "Home" is part of any body by chance),
and so are blocks that :func:`newswatch.spiders.placement.named_furniture` rules out whatever their score.

A model (scikit-learn, ``pip install -e '.[bench]'``) is then cross-validated with the pages
split into folds *by site*, so that no site is ever both trained and judged, and the probes of
detection_quality are scored on the held-out pages exactly as the product decides: a block is
article text when its score reaches the threshold, and a probe alerts when it matches the title
or those blocks. Those held-out numbers are the estimate for sites never seen; the numbers
``detection_quality.py`` prints after the model is in place are measured on pages it was fitted
on.

``--model trees`` (the product's) is scikit-learn's HistGradientBoostingClassifier with trees
of depth 2; ``--model logistic`` is the logistic regression it replaced, kept for comparison
(``--drop`` leaves signals out, to compare feature sets). ``--shuffle SEED`` deals the sites to
the folds in a random order instead of alphabetically, to see how much a number owes to one
split.

Two models are fitted each time: the full judging's, on the signals computed from all three
extractors, and the first stage's, on the same signals computed from resiliparse alone
(:func:`newswatch.spiders.extraction.first_evidence`). The product judges in two stages: the
first stage's verdicts stand where its score is sure (beyond ``SURE_ARTICLE`` or
``SURE_FURNITURE`` of ``spiders/judging.py``) on every block that holds the watched phrase,
and the full judging decides the rest. That is scored probe by probe, as a watch on the probe
would be judged, next to the full judging alone and the first stage alone, with the share of
probes the first stage decided.

Finally both models are fitted on all pages; ``--write`` saves them as the tables
``spiders/judging.py`` evaluates (``spiders/placement_trees.json`` and
``placement_trees_first.json``), after checking that each table gives scikit-learn's own
probabilities on every training block.

Usage, from the repository root::

    python bench/fit_placement.py [--corpus PATH] [--folds 5] [--cache FILE] [--model trees]
                                  [--write]

``--cache`` keeps the computed features in FILE (pickle) so that a second run only refits.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.detection_quality import LOADERS, Page, _matches, default_corpus, probe_query
from newswatch.alerts.matcher import NormalizedArticle
from newswatch.spiders.extraction import (
    FIRST_STAGE_MOST_HELD,
    evidence_of,
    first_evidence,
    read_page,
)
from newswatch.spiders.judging import THRESHOLD, Stage, Trees, is_article, is_sure
from newswatch.spiders.placement import FEATURES, block_features, named_furniture

__all__ = ["Labelled", "export_trees", "label_page"]

_WEIGHT = {"articles": 1.0, "readability": 0.5, "boilerplate": 10.0}
_THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5)
_DEPTH = 2
# A padded node's split: no signal reaches it, so the walk always goes left.
_NEVER = 1e9


@dataclass
class Labelled:
    page: Page
    title: str
    texts: list[str]
    rows: list[list[float]]
    labels: list[int | None]
    furniture: list[bool]  # named furniture: never article text, whatever the score
    first_rows: list[list[float]]  # the same signals from the first stage's evidence

    def of_stage(self, stage: Stage) -> Labelled:
        """This page as the model of ``stage`` sees it."""
        if stage is Stage.FULL:
            return self
        return Labelled(
            self.page, self.title, self.texts, self.first_rows, self.labels, self.furniture, []
        )


def label_page(page: Page) -> Labelled:
    """The product's features for every block of ``page``, with the labels the set gives."""
    read = read_page(page.html, page.url)
    if read is None or not read.blocks:
        return Labelled(page, read.title if read else "", [], [], [], [], [])
    first = first_evidence(read)
    evidence = evidence_of(read, first)
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
    texts = [b.text for b in read.blocks]
    first_rows = block_features(read.blocks, first)
    return Labelled(page, read.title, texts, rows, labels, furniture, first_rows)


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


def _model(kind: str) -> Any:
    """An unfitted model of ``kind``; the trees are kept shallow and smoothed (at least 50
    blocks a leaf, an L2 penalty) because what must carry over is the shape of a page, not a
    site's quirks."""
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=5000)
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_depth=_DEPTH,
        max_iter=300,
        learning_rate=0.05,
        min_samples_leaf=50,
        l2_regularization=1.0,
        random_state=0,
    )


def _fit(pages: list[Labelled], kind: str, columns: list[int]) -> Any:
    x, y, w = _training(pages)
    return _model(kind).fit(np.asarray(x)[:, columns], y, sample_weight=w)


def export_trees(model: Any, features: tuple[str, ...]) -> dict[str, Any]:
    """The fitted trees as the table :class:`newswatch.spiders.judging.Trees` reads: every tree padded
    to full depth, its splits named by signal, so the table survives a reordering of
    :data:`newswatch.spiders.placement.FEATURES`."""
    padded = [_padded(predictor.nodes, features) for (predictor,) in model._predictors]
    return {
        "depth": _DEPTH,
        "baseline": float(np.ravel(model._baseline_prediction)[0]),
        "split_feature": [names for names, _, _ in padded],
        "split_value": [splits for _, splits, _ in padded],
        "leaf": [values for _, _, values in padded],
    }


def _padded(nodes: Any, features: tuple[str, ...]) -> tuple[list[str], list[float], list[float]]:
    """One scikit-learn tree (its ``nodes`` records) as a complete tree of depth ``_DEPTH``
    in heap order: split signals, split values, leaf values."""
    inner = 2**_DEPTH - 1
    names = [features[0]] * inner
    splits = [_NEVER] * inner
    values = [0.0] * (inner + 1)

    def place(node: int, at: int, level: int) -> None:
        record = nodes[node]
        if not record["is_leaf"]:
            names[at] = features[int(record["feature_idx"])]
            splits[at] = float(record["num_threshold"])
            place(int(record["left"]), 2 * at + 1, level + 1)
            place(int(record["right"]), 2 * at + 2, level + 1)
        elif level < _DEPTH:  # a leaf above full depth: both children carry its value
            place(node, 2 * at + 1, level + 1)
            place(node, 2 * at + 2, level + 1)
        else:
            values[at - inner] = float(record["value"])

    place(0, 0, 0)
    return names, splits, values


def _write_trees(model: Any, pages: list[Labelled], stage: Stage) -> None:
    table = export_trees(model, FEATURES)
    path = stage.model_file
    path.write_text(json.dumps(table, separators=(",", ":")) + "\n", encoding="utf-8")
    x = np.asarray(_training(pages)[0])
    trees = Trees.load(path, FEATURES)
    expected = model.predict_proba(x)[:, 1]
    got = 1.0 / (1.0 + np.exp(-trees.margins(x)))
    gap = float(np.max(np.abs(expected - got)))
    if not math.isfinite(gap) or gap > 1e-6:
        raise SystemExit(f"the exported table disagrees with scikit-learn by {gap}")
    print(f"wrote {path} ({len(table['leaf'])} trees; largest gap to scikit-learn {gap:.1e})")


def _probabilities(model: Any, item: Labelled, columns: list[int]) -> list[float]:
    if not item.rows:
        return []
    return [float(p) for p in model.predict_proba(np.asarray(item.rows)[:, columns])[:, 1]]


def _quoted(row: list[float]) -> bool:
    """The caption / quotation rule of newswatch.spiders.judging.is_article, whatever the score."""
    return is_article(row, 0.0, None)


def _hit(phrase: str, article: NormalizedArticle) -> bool:
    """:func:`bench.detection_quality._matches`, on an article normalised once for all probes."""
    query = probe_query(phrase)
    return query is not None and query.match_normalized(article) is not None


def _score(items: list[tuple[Labelled, list[float]]], threshold: float) -> tuple[float, float]:
    main = found = furniture = false = 0
    for item, scores in items:
        kept = _verdicts(item, scores, threshold)
        text = "\n".join(t for t, keep in zip(item.texts, kept, strict=True) if keep)
        article = NormalizedArticle.from_text(item.title, text)
        main += len(item.page.main)
        found += sum(_hit(phrase, article) for phrase in item.page.main)
        furniture += len(item.page.furniture)
        false += sum(_hit(phrase, article) for phrase in item.page.furniture)
    return found / main, false / furniture


def _verdicts(item: Labelled, scores: list[float], threshold: float) -> list[bool]:
    return [
        not named and (s >= threshold or _quoted(row))
        for row, s, named in zip(item.rows, scores, item.furniture, strict=True)
    ]


def _score_in_stages(
    items: list[tuple[Labelled, list[float], list[float]]], threshold: float
) -> tuple[float, float, float]:
    """Recall, false alerts and the share of probes the first stage decided, judging each probe
    as a watch on it is judged (``newswatch.spiders.extraction.judge_blocks``): the first
    stage's verdicts where it is sure of every block holding the phrase (and at most
    ``FIRST_STAGE_MOST_HELD`` do), else the full one's."""
    main = found = furniture = false = decided = 0
    for item, full, first in items:
        verdicts = {
            Stage.FULL: _verdicts(item, full, threshold),
            Stage.FIRST: _verdicts(item.of_stage(Stage.FIRST), first, threshold),
        }
        for phrase, is_main in [(p, True) for p in item.page.main] + [
            (p, False) for p in item.page.furniture
        ]:
            query = probe_query(phrase)
            if query is None:
                continue
            held = [i for i, t in enumerate(item.texts) if query.match("", t) is not None]
            sure = len(held) <= FIRST_STAGE_MOST_HELD and all(
                item.furniture[i] or is_sure(first[i]) for i in held
            )
            decided += sure
            kept = verdicts[Stage.FIRST if sure else Stage.FULL]
            text = "\n".join(t for t, keep in zip(item.texts, kept, strict=True) if keep)
            hit = query.match(item.title, text) is not None
            if is_main:
                main, found = main + 1, found + hit
            else:
                furniture, false = furniture + 1, false + hit
    return found / main, false / furniture, decided / (main + furniture)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cache", type=Path, help="pickle of the computed features")
    parser.add_argument("--model", choices=("trees", "logistic"), default="trees")
    parser.add_argument("--drop", action="append", default=[], help="leave out a signal")
    parser.add_argument("--shuffle", type=int, help="deal sites to folds in this seed's order")
    parser.add_argument("--write", action="store_true", help="save both stages' trees")
    args = parser.parse_args(argv)
    if args.cache and args.cache.exists():
        pages: list[Labelled] = pickle.loads(args.cache.read_bytes())
    else:
        pages = [label_page(p) for loader in LOADERS.values() for p in loader(args.corpus)]
        if args.cache:
            args.cache.write_bytes(pickle.dumps(pages))
    columns = [i for i, name in enumerate(FEATURES) if name not in args.drop]
    sites = sorted({_site(item.page) for item in pages})
    if args.shuffle is not None:
        random.Random(args.shuffle).shuffle(sites)
    fold_of = {site: i % args.folds for i, site in enumerate(sites)}
    held_out: list[tuple[Labelled, list[float]]] = []
    first_held_out: list[list[float]] = []
    for fold in range(args.folds):
        training = [p for p in pages if fold_of[_site(p.page)] != fold]
        model = _fit(training, args.model, columns)
        first = _fit([p.of_stage(Stage.FIRST) for p in training], args.model, columns)
        for item in pages:
            if fold_of[_site(item.page)] == fold:
                held_out.append((item, _probabilities(model, item, columns)))
                first_held_out.append(_probabilities(first, item.of_stage(Stage.FIRST), columns))
    print(
        f"{args.model}, held out by site ({args.folds} folds, {len(sites)} sites): "
        "recall / false alerts"
    )
    for threshold in _THRESHOLDS:
        cells = []
        for dataset in LOADERS:
            subset = [(i, s) for i, s in held_out if i.page.dataset == dataset]
            recall, false = _score(subset, threshold)
            cells.append(f"{dataset} {recall:.3f} / {false:.3f}")
        print(f"  threshold {threshold}: " + "   ".join(cells))
    print(f"the two stages, threshold {THRESHOLD}: recall / false alerts (share decided first)")
    for name, only in (("first stage alone", Stage.FIRST), ("two stages", None)):
        cells = []
        for dataset in LOADERS:
            subset = [
                (i, s, f)
                for (i, s), f in zip(held_out, first_held_out, strict=True)
                if i.page.dataset == dataset
            ]
            if only is Stage.FIRST:
                staged = [(i.of_stage(Stage.FIRST), f) for i, _, f in subset]
                recall, false = _score(staged, THRESHOLD)
                cells.append(f"{dataset} {recall:.3f} / {false:.3f}")
            else:
                recall, false, decided = _score_in_stages(subset, THRESHOLD)
                cells.append(f"{dataset} {recall:.3f} / {false:.3f} ({decided:.2f})")
        print(f"  {name}: " + "   ".join(cells))
    if args.write:
        if args.model != "trees" or args.drop:
            parser.error("--write saves the product's model: trees over every signal")
        for stage in Stage:
            staged = [p.of_stage(stage) for p in pages]
            _write_trees(_fit(staged, "trees", columns), staged, stage)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

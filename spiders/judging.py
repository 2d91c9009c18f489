"""Judge each block of a page: part of the article, or furniture around it.

The signals of :mod:`newswatch.spiders.placement` are weighed by a small ensemble of gradient-boosted
decision trees: a block is part of the article when ``sigmoid(BASELINE + sum of the trees'
leaves)`` reaches :data:`THRESHOLD`. Trees, not one weight per signal, because the signals
interact: a line that every extractor keeps is usually the article, unless it also reads as a
call to action or a credit; a logistic model can only add those up. Held out by site, the trees
gave the same or better recall and fewer false alerts than the logistic weights they replace
(docs/detection.md has the numbers).

Nothing is tuned by hand. ``bench/fit_placement.py`` fits the trees on every dev set of the
shared corpus at once (human-annotated articles, the boilerplate cases' must / must-not
strings, Readability.js's output), reports the cross-validated result on pages held out by
site, and writes the table next to this module (``placement_trees.json``). scikit-learn is only
needed to fit; here the table is evaluated with numpy, every block of a page at once.

A missed alert costs an analyst more than a false one, so the threshold sits below the point
where the two kinds of error would cost the same.

Two tables are fitted the same way: the full judging's, and the first stage's, which sees the
same signals computed with one extractor (resiliparse) in place of three. Where the first
stage scores a block at or beyond :data:`SURE_ARTICLE` or below :data:`SURE_FURNITURE`, the
full judging agreed on pages held out by site often enough that its verdict stands
(``newswatch.spiders.extraction.judge_blocks``).
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from newswatch.spiders.placement import FEATURES

__all__ = [
    "SURE_ARTICLE",
    "SURE_FURNITURE",
    "THRESHOLD",
    "Stage",
    "Trees",
    "article_scores",
    "is_article",
    "is_sure",
]


class Stage(enum.Enum):
    """The two stages of the judging, each with its table of trees."""

    FIRST = "placement_trees_first.json"
    FULL = "placement_trees.json"

    @property
    def model_file(self) -> Path:
        return Path(__file__).with_name(self.value)


# Held out by site, this threshold gave the best recall at which false alerts stayed at
# trafilatura's level or below on every dev set (bench/fit_placement.py prints the curve).
THRESHOLD = 0.4
# Held out by site, first-stage verdicts on scores beyond these left the probes' recall and
# false alerts as the full judging's or better on every dev set, with the first stage deciding
# seven to nine probes in ten; at 0.8 false alerts rose (docs/detection.md has the sweep).
SURE_ARTICLE = 0.85
SURE_FURNITURE = 0.1


@dataclass(frozen=True)
class Trees:
    """Complete binary trees of one depth, stored level by level (heap order).

    Node ``i`` has children ``2i + 1`` (value <= split) and ``2i + 2`` (value > split); the
    fitted trees are padded to full depth with splits that always go left, so that every tree
    is walked in the same number of steps, all trees and all blocks at once.
    """

    depth: int
    baseline: float
    columns: npt.NDArray[np.intp]  # trees x inner nodes: the index of the signal split on
    splits: npt.NDArray[np.float64]  # trees x inner nodes
    leaves: npt.NDArray[np.float64]  # trees x leaves

    @classmethod
    def load(cls, path: Path, features: Sequence[str]) -> Trees:
        """The table ``bench/fit_placement.py`` wrote, its signals named as in ``features``."""
        table = json.loads(path.read_text(encoding="utf-8"))
        at = {name: index for index, name in enumerate(features)}
        columns = [[at[name] for name in tree] for tree in table["split_feature"]]
        return cls(
            depth=int(table["depth"]),
            baseline=float(table["baseline"]),
            columns=np.asarray(columns, dtype=np.intp),
            splits=np.asarray(table["split_value"], dtype=np.float64),
            leaves=np.asarray(table["leaf"], dtype=np.float64),
        )

    def margins(self, rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The log-odds of each row (one block's signals) being article text."""
        trees, inner = self.columns.shape
        passed = rows[:, self.columns] > self.splits  # blocks x trees x inner nodes, at once
        node = np.zeros((rows.shape[0], trees), dtype=np.intp)
        for _ in range(self.depth):
            node = 2 * node + 1 + np.take_along_axis(passed, node[..., np.newaxis], axis=2)[..., 0]
        leaf = node - inner + np.arange(trees) * self.leaves.shape[1]
        return np.asarray(self.baseline + self.leaves.ravel()[leaf].sum(axis=1))


@functools.cache
def _trees(stage: Stage) -> Trees:
    # Read on first use, not at import: bench/fit_placement.py imports this module to write
    # the table in the first place.
    return Trees.load(stage.model_file, FEATURES)


def article_scores(rows: Sequence[Sequence[float]], stage: Stage = Stage.FULL) -> list[float]:
    """For each row of :data:`newswatch.spiders.placement.FEATURES` values, the likelihood that its
    block is article text, by the trees of ``stage``."""
    if not rows:
        return []
    margins = _trees(stage).margins(np.asarray(rows, dtype=np.float64))
    return [float(s) for s in 1.0 / (1.0 + np.exp(-np.clip(margins, -50.0, 50.0)))]


def is_sure(score: float) -> bool:
    """Whether a first-stage score is far enough from the threshold to stand."""
    return score >= SURE_ARTICLE or score < SURE_FURNITURE


_AT = {name: index for index, name in enumerate(FEATURES)}


def is_article(row: Sequence[float], score: float, furniture: str | None) -> bool:
    """The decision for one block, from its signals, its score and its named furniture.

    Two rules stand above the weighing, because the query contract states them and the dev sets do not
    always agree (their annotators often leave captions out of a body, and count a forum's
    comments in):

    * furniture that the markup names as such (:func:`newswatch.spiders.placement.named_furniture`)
      is never the article;
    * a caption or a quotation inside the stretch of the page that holds the article is the
      article, unless it reads as a credit or a call to action ("Foto: dpa", "Subscribe").
    """
    if furniture is not None:
        return False
    if score >= THRESHOLD:
        return True
    return bool(
        row[_AT["tag_quote_caption"]]
        and (row[_AT["inside_kept_span"]] or row[_AT["in_container"]])
        and not row[_AT["cue_words"]]
    )

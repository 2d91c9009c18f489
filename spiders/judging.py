"""Judge each block of a page: part of the article, or furniture around it.

The signals of :mod:`spiders.placement` are weighed by a logistic model: a block is part of the
article when ``sigmoid(INTERCEPT + sum(WEIGHTS[f] * value(f)))`` reaches :data:`THRESHOLD`.
The weights are not tuned by hand. ``bench/fit_placement.py`` fits them on every dev set of the
shared corpus at once (human-annotated articles, the boilerplate cases' must / must-not strings,
Readability.js's output), reports the cross-validated result on pages held out by site, and
prints this table; docs/detection.md explains the choice of threshold.

A missed alert costs an analyst more than a false one, so the threshold sits below the point
where the two kinds of error would cost the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from spiders.placement import FEATURES

__all__ = ["INTERCEPT", "THRESHOLD", "WEIGHTS", "article_scores", "is_article"]

# Fitted by bench/fit_placement.py (see its docstring for the data and the command).
INTERCEPT = -3.665
WEIGHTS: dict[str, float] = {
    "kept_newswatch": 0.288,
    "kept_trafilatura": 1.703,
    "kept_resiliparse": 0.216,
    "kept_share": 0.735,
    "in_json_ld": 0.123,
    "in_container": 0.358,
    "no_container": 0.423,
    "in_article_tag": 0.141,
    "in_main": 0.203,
    "furniture_tag": -0.926,
    "furniture_role": 1.138,
    "header_tag": -0.658,
    "named_comments": -0.087,
    "named_related": -0.129,
    "named_share": -0.145,
    "named_newsletter": 0.099,
    "named_consent": -0.892,
    "named_navigation": -0.735,
    "named_footer": -0.972,
    "named_sidebar": -0.397,
    "named_ads": -0.953,
    "named_meta": -0.024,
    "named_header": 0.229,
    "named_body": 0.097,
    "log_words": 0.535,
    "link_share": -0.383,
    "parent_link_share": -0.576,
    "sentence": 0.732,
    "tag_p": 0.572,
    "tag_li": 1.941,
    "tag_heading": 0.218,
    "tag_cell": 3.167,
    "tag_quote_caption": 0.257,
    "before_headline": -1.608,
    "inside_kept_span": -0.413,
    "log_distance_kept": -0.408,
    "siblings_kept": 0.473,
    "label_line": -1.471,
    "address": -0.556,
    "upper_share": -0.574,
    "after_kept_end": -2.187,
    "log_blocks_to_kept_end": 0.178,
    "relative_words": 0.005,
    "cue_words": -2.085,
    "under_cue_heading": -0.519,
}
# Held out by site, this threshold gave the best recall at which false alerts stayed at
# trafilatura's level or below on every dev set (bench/fit_placement.py prints the curve).
THRESHOLD = 0.4


def article_scores(features: Sequence[str], rows: Sequence[Sequence[float]]) -> list[float]:
    """For each row of ``features`` values, the likelihood that its block is article text."""
    weights = [WEIGHTS.get(name, 0.0) for name in features]
    scores = []
    for row in rows:
        z = INTERCEPT + sum(w * v for w, v in zip(weights, row, strict=True))
        scores.append(1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))))
    return scores


_AT = {name: index for index, name in enumerate(FEATURES)}


def is_article(row: Sequence[float], score: float, furniture: str | None) -> bool:
    """The decision for one block, from its signals, its score and its named furniture.

    Two rules stand above the weighing, because SPEC §3 states them and the dev sets do not
    always agree (their annotators often leave captions out of a body, and count a forum's
    comments in):

    * furniture that the markup names as such (:func:`spiders.placement.named_furniture`)
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

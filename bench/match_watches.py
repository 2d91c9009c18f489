"""Watch-matching benchmark: one article against 10, 1,000 and 10,000 watches.

Compares, in the same run and on the same articles and watches:

  WatchSet  newswatch.alerts.watchset.WatchSet.matches: one Aho-Corasick scan of the folded title and
            body, then CompiledQuery.match_normalized on the few candidate watches only
  naive     every watch's CompiledQuery.match_normalized (one regex per query leaf, per
            watch), which is what AlertIntake did before the WatchSet

Both columns include folding the article once (NormalizedArticle.from_text), because a real
article has to be folded either way; the table's footer shows that share, the automaton scan
and candidate filter, and the matcher's time on the watches that do match.  A term's regex is
compiled the first time an article shows its words (newswatch.alerts.matcher.Leaf), so the first pass
over the articles pays those compiles: its time is shown beside the best pass.  The naive
column runs on a set whose every regex was compiled beforehand, so it times matching only.

The build table times WatchSet(...) for N *distinct* watch queries (the same generator,
repeats skipped), each build from cold regex caches: lazy (what the service does at start and
on every reload) against eager, the same build followed by compiling every term's regex, which
is what the build did before the regexes became lazy (it compiled once per distinct Term, so
a little more than eager here).

Watches are generated from fixed word lists with a seeded random generator: real places,
people, organisations and topics (in English, Arabic and Russian), single names, phrases, OR
groups of spellings, AND with a topic, exclusions and title: restrictions, and (a share given
by --operator-share, 10% by default) proximity (``Palmyra NEAR/5 museum``) and truncation
(``Пальмир*``, ``Alepp* OR حل*``, ``Kharkiv NEAR/10 shell*``).  Most watches of a
large service name something a given article does not mention, which the generator models
with made-up names (a long tail of local places, people and companies).  Articles are the
ground-truth bodies of shared/corpus/articles/*.json (NEWSWATCH_CORPUS, or ../shared/corpus
beside the repository), titled from the URL slug; without a corpus they are generated.

Usage (from the repository root, in the project's virtualenv):

    python bench/match_watches.py [--articles 12] [--repeat 5] [--sizes 10,1000,10000]
                                  [--operator-share 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from newswatch.alerts import matcher
from newswatch.alerts.matcher import CompiledQuery, NormalizedArticle
from newswatch.alerts.query import Near, Query, Term, parse_query, walk
from newswatch.alerts.watchset import WatchSet


def words(text: str) -> list[str]:
    """A word list written as text, to keep the lists short on the page."""
    return text.split()


PLACES = words("""Palmyra Aleppo Damascus Homs Idlib Raqqa Deir-ez-Zor Mosul Baghdad Basra Erbil Kirkuk
Kyiv Kharkiv Mariupol Donetsk Luhansk Odesa Kherson Zaporizhzhia Bakhmut Crimea Sevastopol Gaza
Rafah Jerusalem Ramallah Beirut Tehran Isfahan Istanbul Ankara Cairo Alexandria Tripoli Benghazi
Khartoum Darfur Sanaa Aden Hodeidah Kabul Kandahar Karachi Lahore Kashmir Delhi Mumbai Dhaka
Yangon Bangkok Jakarta Manila Beijing Shanghai Shenzhen Wuhan Taipei Seoul Pyongyang Tokyo Osaka
Moscow Minsk Warsaw Berlin Munich Paris Marseille London Manchester Madrid Barcelona Rome Milan
Athens Brussels Geneva Vienna Budapest Belgrade Pristina Tbilisi Yerevan Baku Caracas Bogota Lima
Quito Havana Washington Chicago Texas Florida California Seattle Boston Detroit Atlanta Nairobi
Lagos Abuja Mogadishu Kinshasa Johannesburg Harare Bamako Niamey Dakar Accra Tunis Algiers Rabat
Sydney Melbourne Auckland Toronto Montreal Vancouver Ottawa Dublin Belfast Edinburgh Glasgow
Lisbon Oslo Stockholm Helsinki Copenhagen Amsterdam Rotterdam Zurich Prague Bratislava Vilnius
Riga Tallinn Chisinau Sofia Bucharest Zagreb Sarajevo Skopje Tirana Nicosia Doha Riyadh Jeddah
Dubai Muscat Kuwait Amman Baghdad Ukraine Russia Syria Iraq Iran Israel Lebanon Yemen Libya Sudan
Afghanistan Pakistan India China Taiwan Japan Korea Germany France Britain Italy Spain Poland
Turkey Egypt Nigeria Ethiopia Somalia Venezuela Mexico Brazil Argentina Chile Colombia Canada""")
MULTIWORD_PLACES = [
    "New York",
    "Hong Kong",
    "Los Angeles",
    "San Francisco",
    "Mexico City",
    "Addis Ababa",
    "Silicon Valley",
    "Wall Street",
    "West Bank",
    "Golan Heights",
    "South China Sea",
    "Tel Aviv",
    "Abu Dhabi",
    "Kuala Lumpur",
    "Sao Paulo",
    "Buenos Aires",
    "Cape Town",
]
PEOPLE = [
    "Bashar al-Assad",
    "Vladimir Putin",
    "Volodymyr Zelensky",
    "Xi Jinping",
    "Emmanuel Macron",
    "Olaf Scholz",
    "Recep Tayyip Erdogan",
    "Narendra Modi",
    "Joe Biden",
    "Donald Trump",
    "Boris Johnson",
    "Angela Merkel",
    "Jeff Bezos",
    "Elon Musk",
    "Mark Zuckerberg",
    "Tim Cook",
    "Sundar Pichai",
    "Satya Nadella",
    "Adam Neumann",
    "Jack Ma",
    "Warren Buffett",
    "Christine Lagarde",
    "Jerome Powell",
    "Ursula von der Leyen",
    "Antonio Guterres",
    "Benjamin Netanyahu",
    "Mohammed bin Salman",
    "Ali Khamenei",
    "Kim Jong Un",
    "Alexei Navalny",
    "Greta Thunberg",
    "Pope Francis",
    "Nancy Pelosi",
    "Bernie Sanders",
    "Kamala Harris",
    "Justin Trudeau",
    "Jacinda Ardern",
    "Jair Bolsonaro",
    "Nicolas Maduro",
    "Abiy Ahmed",
]
ORGS = words("""Google Apple Microsoft Amazon Facebook Meta Tesla Boeing Airbus WeWork Uber Netflix
Twitter Huawei Samsung Sony Nintendo Intel Nvidia Qualcomm Oracle IBM Siemens Volkswagen Toyota
Shell BP Exxon Chevron Gazprom Rosneft Aramco OPEC NATO UNESCO UNICEF Hezbollah Hamas Taliban
Wagner Reuters Bloomberg Pfizer Moderna AstraZeneca Walmart Disney Spotify SoftBank Alibaba
Tencent ByteDance TikTok Instagram WhatsApp YouTube Stadia xCloud PlayStation Xbox""")
MULTIWORD_ORGS = [
    "United Nations",
    "World Bank",
    "European Union",
    "Federal Reserve",
    "European Central Bank",
    "Red Cross",
    "Islamic State",
    "Supreme Court",
    "White House",
    "Pentagon Papers",
    "Apple Arcade",
    "Amazon Web Services",
    "Goldman Sachs",
    "JPMorgan Chase",
    "Deutsche Bank",
]
TOPICS = [
    "ceasefire",
    "sanctions",
    "airstrike",
    "refugees",
    "earthquake",
    "wildfire",
    "flooding",
    "hurricane",
    "drought",
    "famine",
    "cholera",
    "pandemic",
    "vaccine",
    "election",
    "referendum",
    "impeachment",
    "protest",
    "strike",
    "layoffs",
    "bankruptcy",
    "merger",
    "acquisition",
    "antitrust",
    "lawsuit",
    "indictment",
    "extradition",
    "espionage",
    "cyberattack",
    "ransomware",
    "hackers",
    "leak",
    "whistleblower",
    "inflation",
    "recession",
    "tariffs",
    "subscription",
    "climate change",
    "trade war",
    "interest rates",
    "oil prices",
    "human rights",
    "data breach",
    "supply chain",
    "artificial intelligence",
    "central bank",
    "nuclear deal",
    "peace talks",
    "humanitarian aid",
    "chemical weapons",
    "death toll",
    "state of emergency",
    "coup attempt",
    "initial public offering",
    "stock market",
    "real estate",
    "video games",
    "cloud gaming",
]
NOISE = [
    "concert",
    "festival",
    "football",
    "recipe",
    "weather",
    "horoscope",
    "obituary",
    "celebrity",
    "fashion",
    "soccer",
    "cricket",
    "tennis",
    "movie",
    "album",
    "tourism",
    "sponsored",
]
ARABIC = [
    "تدمر",
    "حلب",
    "دمشق",
    "حمص",
    "إدلب",
    "الرقة",
    "الموصل",
    "بغداد",
    "بيروت",
    "غزة",
    "الأسد",
    "حزب الله",
    "داعش",
    "طهران",
    "القاهرة",
    "حماة",
    "درعا",
    "اللاذقية",
    "وقف إطلاق النار",
]
CYRILLIC = [
    "Пальмира",
    "Москва",
    "Киев",
    "Харьков",
    "Мариуполь",
    "Донецк",
    "Путин",
    "Зеленский",
    "Навальный",
    "Газпром",
    "Роснефть",
    "Санкции",
    "Кремль",
    "Сирия",
    "Алеппо",
]
# Spellings of one place across scripts, as a watch would group them with OR.
SPELLINGS = [
    ["Palmyra", "Tadmur", "تدمر", "Пальмира"],
    ["Aleppo", "Alep", "حلب", "Алеппо"],
    ["Kyiv", "Kiev", "Киев"],
    ["Kharkiv", "Kharkov", "Харьков"],
    ["Damascus", "دمشق", "Дамаск"],
    ["Assad", "الأسد", "Асад"],
]
_SYLLABLES = words("""ka ri to ma ne lo va den sha bur ste mor ga lin tra vel qui ast ben hol ker zan
dro pel fin gor sel mar ton wick ham ley ford bor ovi ez ana ska ur el ion""")

# Words for generated articles when no corpus is present.
_FILLER = words("""the a of to in and said on for with that was is by at from as it its have has
government officials minister according statement week year people city forces company market
report police talks country region new first last after before during while against over more
than about would could also which who they their there been were had will may percent million
""")


def made_up_name(rng: random.Random) -> str:
    """A name no article mentions: the long tail of what thousands of users watch."""
    word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
    return word.capitalize()


def quoted(text: str) -> str:
    return f'"{text}"' if " " in text else text


def entity(rng: random.Random) -> str:
    """Something a watch names: mostly the long tail, sometimes a real place, person or org."""
    roll = rng.random()
    if roll < 0.62:
        name = made_up_name(rng)
        return quoted(f"{name} {made_up_name(rng)}") if rng.random() < 0.3 else name
    if roll < 0.74:
        return quoted(rng.choice(PLACES + MULTIWORD_PLACES))
    if roll < 0.82:
        person = rng.choice(PEOPLE)
        return quoted(person) if rng.random() < 0.6 else person.split()[-1]
    if roll < 0.90:
        return quoted(rng.choice(ORGS + MULTIWORD_ORGS))
    if roll < 0.95:
        return quoted(rng.choice(ARABIC))
    return rng.choice(CYRILLIC)


def truncated(rng: random.Random, word: str) -> str:
    """``word`` cut to a prefix (3 letters at least) and starred, as analysts truncate names to
    catch their inflected forms (Пальмир* for Пальмира, Пальмиры, Пальмиру)."""
    if len(word) <= 4 or " " in word or "-" in word:
        return word
    return word[: rng.randint(max(4, len(word) - 2), len(word) - 1)] + "*"


def operator_query(rng: random.Random) -> str:
    """A watch with NEAR/n or a truncated term, in the shapes media-monitoring tools offer."""
    shape = rng.random()
    single = [w for w in PLACES + CYRILLIC + ARABIC if " " not in w and "-" not in w]
    if shape < 0.35:
        return truncated(rng, rng.choice(single))
    if shape < 0.5:
        names = rng.choice(SPELLINGS)
        return " OR ".join(truncated(rng, n) for n in names)
    distance = rng.choice([3, 5, 5, 10])
    left = entity(rng) if rng.random() < 0.6 else truncated(rng, rng.choice(single))
    right = quoted(rng.choice(TOPICS))
    if rng.random() < 0.3:
        right = truncated(rng, right.strip('"').split()[0])
    query = f"{left} NEAR/{distance} {right}"
    if rng.random() < 0.3:
        query += f" -{rng.choice(NOISE)}"
    return query


def watch_query(rng: random.Random, operator_share: float = 0.0) -> str:
    """One watch in the shapes users write."""
    if operator_share and rng.random() < operator_share:
        return operator_query(rng)
    shape = rng.random()
    if shape < 0.30:
        query = entity(rng)
    elif shape < 0.40:
        query = quoted(rng.choice(TOPICS))
    elif shape < 0.55:
        names = rng.choice(SPELLINGS) if rng.random() < 0.3 else [entity(rng) for _ in range(3)]
        query = " OR ".join(names)  # entity() quotes what needs it; spellings are one word
    elif shape < 0.75:
        topics = [quoted(t) for t in rng.sample(TOPICS, rng.randint(1, 2))]
        topic = topics[0] if len(topics) == 1 else f"({' OR '.join(topics)})"
        query = f"{entity(rng)} {topic}"
    elif shape < 0.92:
        name = entity(rng)
        excluded = rng.sample(NOISE, rng.randint(1, 2))
        if rng.random() < 0.3:  # the namesake elsewhere, as in Palmyra -"Palmyra, New York"
            excluded.append(f'"{name.strip(chr(34))}, New York"')
        query = f"{name} " + " ".join(f"-{x}" for x in excluded)
    else:
        query = f"title:{entity(rng)}"
    return query


def build_watches(
    count: int, seed: int, *, distinct: bool = False, operator_share: float = 0.0
) -> dict[str, Query]:
    """``count`` generated watches; with ``distinct``, no query twice (popular names repeat)."""
    rng = random.Random(seed)
    watches: dict[str, Query] = {}
    seen: set[str] = set()
    while len(watches) < count:
        query = parse_query(watch_query(rng, operator_share))
        if distinct:
            if str(query) in seen:
                continue
            seen.add(str(query))
        watches[f"w{len(watches)}"] = query
    return watches


def corpus_dir() -> Path | None:
    configured = os.environ.get("NEWSWATCH_CORPUS")
    root = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared/corpus"
    return root if (root / "articles").is_dir() else None


def title_from_url(url: str) -> str:
    """The URL slug, which is how most outlets spell the headline; the corpus has no titles."""
    parts = [p for p in re.split(r"[/?#]", url) if re.search(r"[A-Za-z]{3}", p)]
    slug = parts[-1] if parts else ""
    return re.sub(r"\.\w+$", "", re.sub(r"[-_]+", " ", slug)).strip()


def load_articles(count: int, seed: int) -> tuple[list[tuple[str, str]], str]:
    root = corpus_dir()
    rng = random.Random(seed)
    if root is not None:
        articles = []
        for path in sorted((root / "articles").glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("articleBody"):
                articles.append((title_from_url(data.get("url") or ""), data["articleBody"]))
        # Evenly spaced over the lengths, so the sample is as long as the corpus on average.
        articles.sort(key=lambda a: len(a[1]))
        step = len(articles) / min(count, len(articles))
        chosen = [articles[int(step * (k + 0.5))] for k in range(min(count, len(articles)))]
        return chosen, f"{len(chosen)} of {len(articles)} corpus articles from {root}"
    generated = []
    vocabulary = _FILLER * 8 + PLACES + ORGS + TOPICS + [p.split()[-1] for p in PEOPLE]
    for _ in range(count):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(300, 900))]
        generated.append((" ".join(words[:10]).capitalize(), " ".join(words) + "."))
    return generated, f"{count} generated articles (no corpus: set NEWSWATCH_CORPUS)"


def one_by_one(compiled: list[CompiledQuery]) -> Callable[[str, str], list[int]]:
    """The baseline: fold once, then every watch's own regexes, as AlertIntake used to."""

    def run(title: str, body: str) -> list[int]:
        article = NormalizedArticle.from_text(title, body)
        return [i for i, query in enumerate(compiled) if query.match_normalized(article)]

    return run


def with_watchset(watchset: WatchSet) -> Callable[[str, str], list[int]]:
    index = {name: i for i, name in enumerate(watchset.names)}

    def run(title: str, body: str) -> list[int]:
        return [index[name] for name, found in watchset.matches(title, body).items() if found]

    return run


def per_article_ms(
    run: Callable[[str, str], list[int]], articles: list[tuple[str, str]], repeat: int
) -> tuple[float, float, list[list[int]]]:
    """Best and first of ``repeat`` passes over all articles, in ms per article, and what
    matched (the first pass also compiles the regexes the articles need)."""
    times: list[float] = []
    found: list[list[int]] = []
    for _ in range(repeat):
        started = time.perf_counter()
        found = [run(title, body) for title, body in articles]
        times.append(time.perf_counter() - started)
    return min(times) / len(articles) * 1000, times[0] / len(articles) * 1000, found


def cold_regex_caches() -> None:
    """Forget every compiled term regex, so a build or a pass pays for the ones it needs."""
    matcher._leaf_regex.cache_clear()
    re.purge()


def timed_build(queries: dict[str, Query], *, eager: bool) -> tuple[WatchSet, float]:
    """A WatchSet built from cold caches and its build time in seconds; ``eager`` also
    compiles every term's regex, excluded terms too, as the build did before."""
    cold_regex_caches()
    started = time.perf_counter()
    watchset = WatchSet(queries)
    if eager:
        for compiled in watchset.compiled:
            for leaf in compiled.leaves.values():
                leaf.pattern  # noqa: B018 - compiles it
    return watchset, time.perf_counter() - started


def distinct_terms(watchset: WatchSet) -> int:
    return len({leaf.words for c in watchset.compiled for leaf in c.leaves.values()})


def best_ms(run: Callable[[], object], repeat: int) -> float:
    """Best of ``repeat`` calls, in milliseconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def breakdown(
    watchset: WatchSet, articles: list[tuple[str, str]], repeat: int
) -> tuple[float, float, float, int]:
    """Where the WatchSet's time goes, each step timed on its own (best of ``repeat``).

    Returns ms for folding, for scan + filter and for the whole match on folded articles,
    all summed over the articles, and the number of candidates handed to the matcher.
    """
    norm_ms = best_ms(lambda: [NormalizedArticle.from_text(t, b) for t, b in articles], repeat)
    folded = [NormalizedArticle.from_text(t, b) for t, b in articles]
    filter_ms = best_ms(lambda: [watchset.candidates(a) for a in folded], repeat)
    total_ms = best_ms(lambda: [watchset.matches_normalized(a) for a in folded], repeat)
    return norm_ms, filter_ms, total_ms, sum(len(watchset.candidates(a)) for a in folded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=12, help="articles timed (same for both)")
    parser.add_argument("--repeat", type=int, default=5, help="WatchSet passes (best is kept)")
    parser.add_argument("--naive-repeat", type=int, default=1, help="naive passes (best is kept)")
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--operator-share",
        type=float,
        default=0.1,
        help="share of watches using NEAR/n or a truncated term (0 for the plain mix)",
    )
    args = parser.parse_args()

    articles, source = load_articles(args.articles, args.seed)
    chars = statistics.mean(len(t) + len(b) for t, b in articles)
    print(f"articles: {source}, {chars:,.0f} characters each on average")
    if args.operator_share:
        sample = build_watches(10_000, args.seed, operator_share=args.operator_share)
        near = sum(any(isinstance(n, Near) for n in walk(q)) for q in sample.values())
        prefix = sum(
            any(isinstance(n, Term) and n.prefix for n in walk(q)) for q in sample.values()
        )
        print(f"of 10,000 watches: {near:,} with NEAR, {prefix:,} with a truncated term")
    for title, body in articles:  # warm the folding cache the same way for both sides
        NormalizedArticle.from_text(title, body)

    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for size in sizes:
        queries = build_watches(size, args.seed, operator_share=args.operator_share)
        watchset, build_s = timed_build(queries, eager=False)
        ws_ms, ws_first_ms, ws_found = per_article_ms(
            with_watchset(watchset), articles, args.repeat
        )
        # The naive loop on regexes compiled beforehand: it times matching, not compiling.
        compiled = timed_build(queries, eager=True)[0].compiled
        naive_ms, _, naive_found = per_article_ms(one_by_one(compiled), articles, args.naive_repeat)
        if ws_found != naive_found:  # a faster wrong answer would be worth nothing
            raise SystemExit(f"WatchSet and the per-watch loop disagree at {size} watches")

        norm_ms, filter_ms, total_ms, candidates = breakdown(watchset, articles, args.repeat)
        matched = sum(len(found) for found in ws_found)
        n = len(articles)
        rows.append(
            (
                size,
                ws_ms,
                naive_ms,
                ws_first_ms,
                build_s,
                norm_ms / n,
                filter_ms / n,
                max(0.0, total_ms - filter_ms) / n,
                candidates / n,
                matched / n,
            )
        )

    builds = []
    for size in sizes:
        queries = build_watches(size, args.seed, distinct=True, operator_share=args.operator_share)
        watchset, lazy_s = timed_build(queries, eager=False)
        eager_s = timed_build(queries, eager=True)[1]
        builds.append((size, distinct_terms(watchset), lazy_s, eager_s))

    print()
    print("| watches | ms/article WatchSet | ms/article naive | ratio (naive/WatchSet) |")
    print("|---:|---:|---:|---:|")
    for size, ws_ms, naive_ms, *_ in rows:
        print(f"| {size:,} | {ws_ms:.3f} | {naive_ms:.3f} | {naive_ms / ws_ms:,.1f}x |")
    print()
    print("WatchSet, per article: folding (in both columns above), automaton scan + candidate")
    print("filter, matcher on the candidates (best pass); first pass: the same articles the first")
    print("time, which also compiles the regexes of the terms they show.  Build: the one-off")
    print("WatchSet(...) from cold caches, not in the columns above.")
    print()
    print(
        "| watches | build s | first pass ms | folding ms | scan+filter ms | matcher ms"
        " | candidates | matches |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, _, _, first_ms, build_s, norm_ms, filter_ms, matcher_ms, cands, hits in rows:
        print(
            f"| {size:,} | {build_s:.2f} | {first_ms:.3f} | {norm_ms:.3f} | {filter_ms:.3f}"
            f" | {matcher_ms:.3f} | {cands:.1f} | {hits:.1f} |"
        )
    print()
    print("WatchSet build time for distinct watches, from cold regex caches: lazy (regexes")
    print("compiled when an article first needs them) vs eager (every term's regex compiled at")
    print("build, as before).")
    print()
    print("| distinct watches | distinct terms | build s lazy | build s eager | eager/lazy |")
    print("|---:|---:|---:|---:|---:|")
    for size, terms, lazy_s, eager_s in builds:
        print(f"| {size:,} | {terms:,} | {lazy_s:.3f} | {eager_s:.2f} | {eager_s / lazy_s:,.0f}x |")


if __name__ == "__main__":
    main()

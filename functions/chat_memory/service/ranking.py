"""The offline lexical ranker of search: chat turns ranked for a query with no model and no network.

Tokens: lower case, punctuation and possessives dropped, stop words removed, a light stemmer (plurals, -ing, -ed,
-ly, -er, -ion, -ment, -ness, a final -e, a short list of irregular verbs), number words as digits, and dates
normalised ("May 7", "7 May 2023", "2023-05-07" all give the month token ``m:5`` and the day token ``d:5:7``).
Score: BM25 (k1 1.2, b 0.75) times a coverage factor (the share of the query's IDF a turn holds), plus a bonus for
query bigrams found close together, plus part of the best neighbouring turn's score (an answer often sits in the
reply to a question); then boosts for the speaker the query names and for turns dated in the month or year it names.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections import Counter
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

K1: Final = 1.2
B: Final = 0.75
BIGRAM_WEIGHT: Final = 0.25
NEIGHBOUR_WEIGHT: Final = 0.35
NEIGHBOUR_GAP_S: Final = 6 * 3600
SPEAKER_BOOST: Final = 0.3
DATE_BOOST: Final = 0.5

_STOP_WORDS: Final = (
    "a about above after again against all am an and any are as at be because been before being below between both "
    "but by can could did do does doing down during each few for from further had has have having he her here hers "
    "herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off "
    "on once only or other our ours ourselves out over own same she should so some such than that the their theirs "
    "them themselves then there these they this those through to too under until up very was we were what when "
    "where which while who whom why will with would you your yours yourself yourselves s t d ll m re ve yeah oh "
    "hey hi wow really also like lot get got going go went gone thing things much many may might"
)
_STOP: Final = frozenset(_STOP_WORDS.split())
_IRREGULAR: Final = {
    "bought": "buy", "brought": "bring", "taught": "teach", "thought": "think", "caught": "catch", "made": "make",
    "took": "take", "taken": "take", "gave": "give", "given": "give", "saw": "see", "seen": "see", "met": "meet",
    "ran": "run", "ate": "eat", "eaten": "eat", "wrote": "write", "written": "write", "drove": "drive", "flew": "fly",
    "began": "begin", "begun": "begin", "found": "find", "felt": "feel", "kept": "keep", "left": "leave",
    "told": "tell", "said": "say", "sold": "sell", "won": "win", "spent": "spend", "built": "build", "came": "come",
    "became": "become", "knew": "know", "known": "know", "sang": "sing", "sung": "sing", "swam": "swim",
    "chose": "choose", "children": "child", "kids": "kid", "people": "person", "women": "woman", "men": "man",
    "mice": "mouse", "feet": "foot", "teeth": "tooth", "grew": "grow", "grown": "grow", "drew": "draw", "drawn": "draw",
}  # fmt: skip
_NUMBER_WORDS: Final = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
)
_NUMBERS: Final = {w: str(i) for i, w in enumerate(_NUMBER_WORDS.split())}
_MONTHS: Final = {
    name: i + 1
    for i, names in enumerate(
        ["january jan", "february feb", "march mar", "april apr", "may", "june jun", "july jul", "august aug",
         "september sep sept", "october oct", "november nov", "december dec"]
    )
    for name in names.split()
}  # fmt: skip
_AMBIGUOUS_MONTHS: Final = frozenset({"may", "march", "mar", "jan", "dec", "sep", "jun"})
_RAW: Final = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})|(\d+)(?:st|nd|rd|th)?\b|([A-Za-z]+)(?:'[A-Za-z]+)?")
_DOUBLE: Final = re.compile(r"([b-df-hj-np-tv-z])\1$")
_SUFFIXES: Final = ("ments", "ment", "ness", "ings", "ing", "ions", "ion", "edly", "ers", "er",
                    "ed", "ly", "ful")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Doc:
    """One turn: its key, text, speaker and time (seconds since the epoch); `seq`: its position in the whole
    conversation when the docs ranked are only part of it (None: the docs are the conversation, in time order)."""

    key: str
    text: str
    speaker: str
    ts: int
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class CorpusStats:
    """Statistics of the whole conversation when only part of it is ranked (the search index's): the number of
    turns, their mean length in terms, and the document frequency of terms (a term not listed: estimated from the
    docs ranked, scaled to `docs`)."""

    docs: int
    avgdl: float
    df: Mapping[str, int] = field(default_factory=dict)


def stem(word: str) -> str:
    """A light English stemmer: the same stem for the usual inflections of a word (lower case in, out)."""
    if word in _IRREGULAR:
        word = _IRREGULAR[word]
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") or word.endswith("ied"):
        word = word[:-3] + "y"
    elif word.endswith(("sses", "shes", "ches", "xes", "zes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            word = word[:-1] if _DOUBLE.search(word) and not word.endswith(("ll", "ss")) else word
            break
    word = word[:-1] + "y" if word.endswith("i") else word
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def _month_at(raw: list[tuple[str, str]], i: int) -> int | None:
    kind, text = raw[i]
    month = _MONTHS.get(text.lower()) if kind == "w" else None
    if month is None or (text.lower() in _AMBIGUOUS_MONTHS and not text[0].isupper()):
        return None
    return month


def _day_near(raw: list[tuple[str, str]], i: int) -> int | None:
    of = i >= 2 and raw[i - 1][1].lower() == "of"  # "7th of May"
    for j in (i + 1, i - 2 if of else i - 1):
        if 0 <= j < len(raw) and raw[j][0] == "n" and 1 <= int(raw[j][1]) <= 31:
            return int(raw[j][1])
    return None


def tokens(text: str) -> list[str]:
    """The terms of a text, in order: stop words out, stems, number words as digits, dates normalised."""
    raw: list[tuple[str, str]] = []
    for m in _RAW.finditer(text):
        if m.group(1):
            raw.append(("iso", f"{m.group(1)} {int(m.group(2))} {int(m.group(3))}"))
        else:
            raw.append(("n", m.group(4)) if m.group(4) else ("w", m.group(5)))
    out: list[str] = []
    for i, (kind, text_) in enumerate(raw):
        month = _month_at(raw, i)
        if kind == "iso":
            year, mon, day_ = text_.split()
            out.extend([year, f"m:{mon}", f"d:{mon}:{day_}"])
        elif month is not None:
            out.append(f"m:{month}")
            day = _day_near(raw, i)
            out.extend([f"d:{month}:{day}"] if day else [])
        elif kind == "n":
            out.append(text_.lstrip("0") or "0")
        elif (word := text_.lower()) not in _STOP:
            out.append(_NUMBERS.get(word) or stem(word))
    return [t for t in out if t]


@dataclass(frozen=True, slots=True)
class _Query:
    terms: list[str]
    speakers: frozenset[str]
    months: frozenset[int]
    years: frozenset[int]


def _parse_query(query: str, docs: Sequence[Doc]) -> _Query:
    names = {d.speaker.split()[0].lower() for d in docs if d.speaker.split()}
    found = {w.lower() for w in re.findall(r"[A-Za-z]+", query)} & names
    named = {t for name in found for t in tokens(name)}
    terms = [t for t in tokens(query) if t not in named]
    months = frozenset(int(t[2:]) for t in terms if t.startswith("m:"))
    years = frozenset(int(t) for t in terms if t.isdigit() and 1900 <= int(t) <= 2100)
    return _Query(terms, frozenset(found), months, years)


def _bigram_bonus(terms: list[str], positions: dict[str, list[int]], idf: dict[str, float]) -> float:
    bonus = 0.0
    for a, b in itertools.pairwise(terms):
        if a in positions and b in positions and any(abs(p - q) <= 2 for p in positions[a] for q in positions[b]):
            bonus += BIGRAM_WEIGHT * (idf[a] + idf[b])
    return bonus


@functools.lru_cache(maxsize=16_384)
def _terms(text: str) -> tuple[str, ...]:
    """The tokens of a turn, remembered across searches of a warm container (a turn's text does not change)."""
    return tuple(tokens(text))


def query_terms(query: str, speakers: Sequence[str]) -> list[str]:
    """The terms a query is ranked by (the names of the conversation's `speakers` it mentions are not terms: they
    boost that speaker's turns), in order."""
    return _parse_query(query, [Doc("", "", s, 0) for s in speakers]).terms


def idf(docs: int, df: int) -> float:
    """BM25's inverse document frequency (never negative)."""
    return math.log(1 + (docs - df + 0.5) / (df + 0.5))


def bm25(weights: Mapping[str, float], tf: Mapping[str, int], length: int, avgdl: float) -> float:
    """BM25 of a turn of `length` terms holding the terms of `tf` (weights: their idf), times the coverage factor
    (the share of the query's weight the turn holds): the ranker's score before bigrams, neighbours and boosts."""
    norm = K1 * (1 - B + B * length / avgdl)
    score = sum(weights[t] * n * (K1 + 1) / (n + norm) for t, n in tf.items())
    coverage = sum(weights[t] for t in tf) / (sum(weights.values()) or 1.0)
    return score * (0.5 + 0.5 * coverage)


def _stats(
    docs: Sequence[Doc], toks: list[tuple[str, ...]], wanted: set[str], stats: CorpusStats | None
) -> tuple[float, dict[str, float]]:
    """avgdl and each wanted term's idf: of the docs, or of the whole corpus (`stats`)."""
    local = Counter(t for ts in toks for t in wanted.intersection(ts))
    if stats is None:
        avgdl = sum(map(len, toks)) / max(len(toks), 1) or 1.0
        return avgdl, {t: idf(len(docs), local[t]) for t in wanted}
    scale = stats.docs / max(len(docs), 1)
    df = {t: stats.df[t] if t in stats.df else min(stats.docs, round(local[t] * scale)) for t in wanted}
    return stats.avgdl or 1.0, {t: idf(max(stats.docs, df[t]), df[t]) for t in wanted}


def terms_of(text: str) -> tuple[str, ...]:
    """The terms of a turn, as the ranker reads them (remembered across searches of a warm container)."""
    return _terms(text)


def _lexical(q: _Query, docs: Sequence[Doc], stats: CorpusStats | None) -> list[float]:
    toks = [_terms(d.text) for d in docs]
    wanted = set(q.terms)
    avgdl, weights = _stats(docs, toks, wanted, stats)
    scores = []
    for doc_tokens in toks:
        matched = wanted.intersection(doc_tokens)
        if not matched:
            scores.append(0.0)
            continue
        tf = Counter(t for t in doc_tokens if t in matched)
        positions = {t: [i for i, x in enumerate(doc_tokens) if x == t] for t in matched}
        scores.append(bm25(weights, tf, len(doc_tokens), avgdl) + _bigram_bonus(q.terms, positions, weights))
    return scores


def _adjacent(docs: Sequence[Doc]) -> list[list[int]]:
    """Each doc's neighbours among the docs: the turns just before and after it (by `seq` when the docs carry it:
    a doc without one has none; else by time, then the docs' order), within NEIGHBOUR_GAP_S."""
    near: list[list[int]] = [[] for _ in docs]
    if any(d.seq is not None for d in docs):
        at = {d.seq: i for i, d in enumerate(docs) if d.seq is not None}
        for i, d in enumerate(docs):
            if d.seq is not None:
                near[i] = [at[s] for s in (d.seq - 1, d.seq + 1) if s in at]
    else:
        order = sorted(range(len(docs)), key=lambda i: docs[i].ts)  # stable: turns of one second stay in order
        for pos, i in enumerate(order):
            near[i] = [order[p] for p in (pos - 1, pos + 1) if 0 <= p < len(order)]
    return [[j for j in js if abs(docs[j].ts - docs[i].ts) <= NEIGHBOUR_GAP_S] for i, js in enumerate(near)]


def _with_neighbours(scores: list[float], docs: Sequence[Doc]) -> list[float]:
    out = list(scores)
    for i, near in enumerate(_adjacent(docs)):
        out[i] += NEIGHBOUR_WEIGHT * max((scores[j] for j in near), default=0.0)
    return out


def _boost(q: _Query, doc: Doc) -> float:
    factor = 1.0
    if doc.speaker and doc.speaker.split()[0].lower() in q.speakers:
        factor += SPEAKER_BOOST
    when = datetime.fromtimestamp(doc.ts, UTC)
    if (q.months or q.years) and (not q.months or when.month in q.months) and (not q.years or when.year in q.years):
        factor += DATE_BOOST
    return factor


def rank(
    query: str,
    docs: Sequence[Doc],
    limit: int,
    *,
    turns: bool = True,
    stats: CorpusStats | None = None,
    eligible: Container[str] | None = None,
) -> list[tuple[Doc, float]]:
    """The docs most relevant to the query, best first (ties by key), at most limit, each with its score (> 0).
    `turns`: the docs are a conversation's turns in order (a turn shares in its neighbour's score); False for
    documents that stand alone (summaries). `stats`: the whole corpus's when the docs are only part of it.
    `eligible`: the keys of the docs that may be answered (None: all); the others are context only (a search's
    filter): they count in the statistics and share in their neighbours' scores, as in a search without it."""
    q = _parse_query(query, docs)
    if not q.terms or not docs or limit <= 0:
        return []
    scores = _lexical(q, docs, stats)
    if turns:
        scores = _with_neighbours(scores, docs)
    answerable = zip(docs, scores, strict=True)
    ranked = [(d, s * _boost(q, d)) for d, s in answerable if s > 0 and (eligible is None or d.key in eligible)]
    ranked.sort(key=lambda pair: (-pair[1], pair[0].key))
    return ranked[:limit]

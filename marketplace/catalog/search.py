"""Catalogue search: one card per module, full text in Chinese and English, facets.

Why CJK bigrams (measured by ``python bench/search.py --compare``, see its note):
Chinese has no spaces, so a word tokenizer sees ``企业开办一件事`` as one token.
Three ways were tried on SQLite FTS5 over the generated catalogue:

* ``trigram`` tokenizer: substring-exact, but needs ≥ 3 characters; most real
  queries are two characters (就医, 社保, 身份, 核验), which fall back to a
  ``LIKE`` scan without bm25: the wanted module came #5–#8 instead of #1.
* jieba (``cut_for_search`` on documents): ranked every test query #1 too, but
  is a 20 MB dependency whose dictionary decides what matches, so "must find
  any substring" holds only as far as the segmenter agrees.
* CJK bigrams (chosen, the Lucene CJKAnalyzer approach): every run of Chinese
  characters is indexed as overlapping character pairs plus its last character
  (``企业开办`` → ``企业 业开 开办 办``); a query run becomes the phrase of its
  pairs, so every substring of ≥ 2 characters matches exactly, a single
  character matches as a prefix, and bm25 ranks Chinese and English the same
  way (English through the porter stemmer). Ranked every test query #1 with full
  recall, needs no dependency, and works the same way on PostgreSQL.

SQLite keeps the analysed text in an FTS5 table (``catalog_search`` rows stay
small). PostgreSQL keeps it as one weighted ``tsvector`` (``simple``
configuration: the tokens are already analysed) in ``catalog_search.search_vector``
with a GIN index; an atom is a phrase ``tsquery`` (``企业 <-> 业开 <-> 开办``,
``医:*``) and ``ts_rank`` with the field weights scores it. It replaced ``LIKE``
on a pg_trgm index, which re-scored every hit of a broad query (跨域通办 hits
8,384 of 10,000) with four ``LIKE`` per atom: p95 90–150 ms, now under 50 ms
(``bench/search.py``). Unlike FTS5 there is no stemming on PostgreSQL: English
words match whole (``license`` does not find ``licenses``).
The index is maintained here, not by triggers, so both engines behave alike.
"""
from __future__ import annotations

import heapq
import json
import re
from collections import Counter
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.accounts.models import Jurisdiction
from marketplace.catalog import search_pg
from marketplace.catalog.models import Module, ModuleVersion, SearchEntry, SearchTag
from marketplace.runtime.models import Installation

# field weights, best first: title > tags/name/publisher > summary > operations > README
FIELDS = ("title_text", "label_text", "summary_text", "operations_text", "readme_text")
WEIGHTS = (10.0, 5.0, 3.0, 2.0, 1.0)
README_LIMIT = 20_000  # characters of README worth indexing
PRICE_REFERENCE_CALLS = 10_000  # sort=price compares what this many calls a month cost
SORTS = ("relevance", "adopters", "newest", "price")
TOP_TAGS = 30

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_PIECE = re.compile(f"[{_CJK}]+|[^\\W_{_CJK}]+")
_TOKEN = re.compile(r"[^\W_]+")

fts = sa.table("catalog_search_fts", sa.column("rowid"), *(sa.column(f) for f in FIELDS))
search_table = SearchEntry.__table__
tags_table = SearchTag.__table__


# --- analysis ---------------------------------------------------------------

def _bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a Chinese run."""
    return [run[i:i + 2] for i in range(len(run) - 1)]


def analyse(text: str) -> str:
    """Index form of ``text``: lower case, tokens between single spaces, Chinese as bigrams."""
    def expand(match: re.Match) -> str:
        run = match.group(0)
        return " " + " ".join(_bigrams(run) + [run[-1]]) + " "
    tokens = _TOKEN.findall(_CJK_RUN.sub(expand, (text or "").lower()))
    return f" {' '.join(tokens)} " if tokens else ""


def query_atoms(q: str) -> list[tuple[list[str], bool]]:
    """Query → atoms that must all match: (tokens forming a phrase, is a one-character prefix)."""
    atoms = []
    for piece in _PIECE.findall((q or "").lower()):
        if _CJK_RUN.fullmatch(piece):
            atoms.append(([piece], True) if len(piece) == 1 else (_bigrams(piece), False))
        else:
            atoms.append(([piece], False))
    return atoms[:12]  # a pasted paragraph is not a query


def _fts_expression(atoms: list[tuple[list[str], bool]]) -> str:
    """FTS5 MATCH text: every atom a quoted phrase (``"企业 业开 开办"``, ``"税"*``)."""
    return " ".join('"' + " ".join(tokens) + '"' + ("*" if prefix else "") for tokens, prefix in atoms)


# --- indexing ---------------------------------------------------------------

def _price_key(terms: dict) -> int:
    """Minor units a month at the reference volume, to sort by price (unknown terms sort first)."""
    from marketplace.money import parse_amount, to_minor
    from marketplace.settlement import pricing

    try:
        kind = terms.get("kind")
        if kind == "pay_per_use":
            return pricing.price_usage(terms, PRICE_REFERENCE_CALLS)
        if kind == "transfer":
            return pricing.transfer_fee(terms)
        if kind == "cost_share":
            return to_minor(parse_amount(terms["period_cost"]), terms["currency"])
    except (ValueError, KeyError, TypeError):
        pass
    return 0


def card(version: ModuleVersion, module_name: str, publisher_name: str) -> dict[str, Any]:
    """The search row of a version: display fields plus the analysed text of each field."""
    operations = " ".join(f"{op.name} {op.summary}" for op in version.operations)
    tags = [str(t) for t in (version.tags or [])]
    fields = {
        "title_text": analyse(version.title),
        "label_text": analyse(" ".join([*tags, module_name, publisher_name])),
        "summary_text": analyse(version.summary),
        "operations_text": analyse(operations),
        "readme_text": analyse((version.readme or "")[:README_LIMIT]),
    }
    return {
        "module_id": version.module_id, "version_id": version.id, "name": module_name,
        "title": version.title, "summary": version.summary or "", "category": version.category,
        "terms_kind": version.terms_kind, "publisher_code": version.module.publisher_code,
        "implements": version.implements, "tags": tags, "price_minor": _price_key(version.terms or {}),
        "published_at": version.reviewed_at or version.created_at, **fields,
    }


def _newest_listed(versions: Iterable[ModuleVersion]) -> ModuleVersion | None:
    """The newest published, non-yanked version (semver precedence)."""
    listed = [v for v in versions if v.state == "published" and v.yanked_at is None]
    return max(listed, key=lambda v: v.sort_key, default=None)


def _remove(session: Session, module_ids: list[int]) -> None:
    """Drop modules from every search table."""
    session.execute(sa.delete(tags_table).where(tags_table.c.module_id.in_(module_ids)))
    session.execute(sa.delete(search_table).where(search_table.c.module_id.in_(module_ids)))
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.delete(fts).where(fts.c.rowid.in_(module_ids)))


def _write(session: Session, cards: list[dict[str, Any]]) -> None:
    """Insert cards into every search table (bulk); the analysed text goes to the engine's index."""
    if not cards:
        return
    sqlite = session.get_bind().dialect.name == "sqlite"
    # catalog_search rows stay small on both engines: scans for facets read less
    session.execute(sa.insert(search_table), [{**c, **dict.fromkeys(FIELDS, ""), "document": ""}
                                              for c in cards])
    tag_rows = [{"module_id": c["module_id"], "tag": t} for c in cards for t in dict.fromkeys(c["tags"])]
    if tag_rows:
        session.execute(sa.insert(tags_table), tag_rows)
    if sqlite:
        session.execute(sa.insert(fts), [{"rowid": c["module_id"], **{f: c[f] for f in FIELDS}}
                                         for c in cards])
    else:
        search_pg.write_vectors(session, cards, FIELDS)


def reindex_module(session: Session, module_id: int) -> bool:
    """Index the module's newest published, non-yanked version; unlist it when none. True if listed."""
    session.flush()
    module = session.get(Module, module_id)
    _remove(session, [module_id])
    versions = session.scalars(sa.select(ModuleVersion).where(ModuleVersion.module_id == module_id))
    version = _newest_listed(versions) if module is not None else None
    if version is None:
        return False
    publisher = session.get(Jurisdiction, module.publisher_code)
    _write(session, [card(version, module.name, publisher.name if publisher else "")])
    return True


def reindex_all(session: Session, batch: int = 500) -> int:
    """Rebuild the whole index (after a restore, or for a benchmark); returns modules listed."""
    from sqlalchemy.orm import selectinload

    session.flush()
    names = dict(session.execute(sa.select(Jurisdiction.code, Jurisdiction.name)).all())
    ids = session.scalars(sa.select(Module.id).order_by(Module.id)).all()
    listed = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        modules = session.scalars(sa.select(Module).where(Module.id.in_(chunk)).options(
            selectinload(Module.versions).selectinload(ModuleVersion.operations))).all()
        _remove(session, chunk)
        cards = [card(v, m.name, names.get(m.publisher_code, ""))
                 for m in modules if (v := _newest_listed(m.versions)) is not None]
        _write(session, cards)
        listed += len(cards)
    return listed


# --- querying ---------------------------------------------------------------

def publisher_condition(code: str) -> sa.ColumnElement[bool]:
    """A province code matches its cities and counties, a city code its counties."""
    column = search_table.c.publisher_code
    if not re.fullmatch(r"[0-9]{6}", code or ""):
        from marketplace.errors import Invalid

        raise Invalid("invalid_publisher", "publisher must be a 6-digit division code, e.g. 440000")
    if code.endswith("0000"):
        return column.like(code[:2] + "%")
    if code.endswith("00"):
        return column.like(code[:4] + "%")
    return column == code


def _filter_conditions(filters: dict[str, Any]) -> list[sa.ColumnElement[bool]]:
    """WHERE conditions for category, terms, publisher, implements and tag (all combine)."""
    c = search_table.c
    conditions = []
    if filters.get("category"):
        conditions.append(c.category == filters["category"])
    if filters.get("terms"):
        conditions.append(c.terms_kind == filters["terms"])
    if filters.get("publisher"):
        conditions.append(publisher_condition(filters["publisher"]))
    if filters.get("implements"):
        conditions.append(c.implements == filters["implements"])
    if filters.get("tag"):
        wanted = tags_table.alias("wanted_tag")
        conditions.append(sa.exists().where(wanted.c.module_id == c.module_id,
                                            wanted.c.tag == filters["tag"]))
    return conditions


def _matches(atoms: list, conditions: list) -> tuple[Any, Any, list]:
    """SQLite: FROM, relevance (higher is better) and WHERE for a text query through FTS5."""
    c = search_table.c
    hits = (sa.select(fts.c.rowid.label("module_id"),
                      (-sa.func.bm25(sa.literal_column("catalog_search_fts"), *WEIGHTS)).label("score"))
            .where(sa.literal_column("catalog_search_fts").op("MATCH")(_fts_expression(atoms)))
            .subquery("hits"))
    return hits.join(search_table, c.module_id == hits.c.module_id), hits.c.score, conditions


def _adopters(session: Session, module_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Active installations per module (all modules, or the given ones)."""
    i = Installation.__table__
    query = sa.select(i.c.module_id, sa.func.count()).where(i.c.state == "active")
    if module_ids is not None:
        query = query.where(i.c.module_id.in_(list(module_ids)))
    return dict(session.execute(query.group_by(i.c.module_id)).all())


def search(session: Session, q: str = "", filters: dict[str, Any] | None = None,
           sort: str = "relevance", page: int = 1, per_page: int = 20
           ) -> tuple[list[dict[str, Any]], int, dict[str, dict[str, int]]]:
    """Ranked, filtered, paginated catalogue search → (items, total, facets).

    Facets count the whole filtered result: category, terms kind and publisher
    province each add up to ``total``; tags give the most frequent ones.
    """
    conditions = _filter_conditions(filters or {})
    sort = sort if sort in SORTS else "relevance"
    atoms = query_atoms(q)
    if not atoms:
        return _browse(session, conditions, sort, page, per_page)
    if session.get_bind().dialect.name != "sqlite":
        ids, scores, adopters, total, facets = search_pg.ranked_search(
            session, atoms, conditions, sort, page, per_page, TOP_TAGS)
        return _page(session, ids, scores, adopters), total, facets
    # SQLite reads its hits once (compact columns) and ranks, counts and pages
    # them here: cheaper than re-running the match for every facet.
    c = search_table.c
    source, score, conditions = _matches(atoms, conditions)
    extra = {"newest": c.published_at, "price": c.price_minor}.get(sort, sa.null())
    rows = session.execute(sa.select(c.module_id, score, c.category, c.terms_kind, c.publisher_code,
                                     sa.cast(c.tags, sa.Text), c.name, extra).select_from(source)
                           .where(sa.and_(sa.true(), *conditions))).all()
    adopters = _adopters(session)
    facets = {"category": dict(Counter(r[2] for r in rows)), "terms": dict(Counter(r[3] for r in rows)),
              "publisher_province": dict(Counter(r[4][:2] + "0000" for r in rows))}
    tags: Counter = Counter()
    for raw, n in Counter(r[5] for r in rows).items():  # few distinct tag lists: parse each once
        tags.update({tag: n for tag in set(json.loads(raw or "[]"))})
    facets["tags"] = dict(sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TAGS])
    key = {"relevance": lambda r: (-r[1], -adopters.get(r[0], 0), r[6]),
           "adopters": lambda r: (-adopters.get(r[0], 0), -r[1], r[6]),
           "newest": lambda r: (-r[7].timestamp(), r[6]),
           "price": lambda r: (r[7], -r[1], r[6])}[sort]
    chosen = heapq.nsmallest(page * per_page, rows, key=key)[(page - 1) * per_page:]
    scores = {r[0]: r[1] for r in chosen}
    return _page(session, [r[0] for r in chosen], scores, adopters), len(rows), facets


def _browse(session: Session, conditions: list, sort: str, page: int, per_page: int
            ) -> tuple[list[dict[str, Any]], int, dict[str, dict[str, int]]]:
    """No text query: facets by SQL aggregation over the filtered catalogue, then one page."""
    c = search_table.c
    where = sa.and_(sa.true(), *conditions)

    def count_by(column: Any) -> dict[str, int]:
        return dict(session.execute(sa.select(column, sa.func.count()).where(where).group_by(column)).all())

    facets = {"category": count_by(c.category), "terms": count_by(c.terms_kind),
              "publisher_province": count_by(sa.func.substr(c.publisher_code, 1, 2) + "0000")}
    total = sum(facets["category"].values())
    tag_rows = session.execute(
        sa.select(tags_table.c.tag, sa.func.count().label("n"))
        .select_from(search_table.join(tags_table, tags_table.c.module_id == c.module_id))
        .where(where).group_by(tags_table.c.tag).order_by(sa.desc("n"), tags_table.c.tag).limit(TOP_TAGS))
    facets["tags"] = dict(tag_rows.all())
    i = Installation.__table__
    adoption = (sa.select(i.c.module_id, sa.func.count().label("n")).where(i.c.state == "active")
                .group_by(i.c.module_id).subquery("adoption"))
    adopted = sa.func.coalesce(adoption.c.n, 0)
    order = {"relevance": [adopted.desc(), c.name], "adopters": [adopted.desc(), c.name],
             "newest": [c.published_at.desc(), c.name], "price": [c.price_minor, c.name]}[sort]
    ids = session.scalars(sa.select(c.module_id)
                          .select_from(search_table.outerjoin(adoption, adoption.c.module_id == c.module_id))
                          .where(where).order_by(*order).limit(per_page).offset((page - 1) * per_page)).all()
    return _page(session, ids, {}, _adopters(session, ids)), total, facets


def _page(session: Session, ids: list[int], scores: dict[int, float],
          adopters: dict[int, int]) -> list[dict[str, Any]]:
    """The chosen modules, in order, as the API shows them (three small queries)."""
    if not ids:
        return []
    c, v = search_table.c, ModuleVersion.__table__
    rows = {r.module_id: r for r in session.execute(
        sa.select(c.module_id, c.name, c.title, c.summary, c.category, c.terms_kind, c.publisher_code,
                  c.implements, c.tags, c.published_at, v.c.version, v.c.terms)
        .join(v, v.c.id == c.version_id).where(c.module_id.in_(ids)))}
    names = dict(session.execute(sa.select(Jurisdiction.code, Jurisdiction.name).where(
        Jurisdiction.code.in_({r.publisher_code for r in rows.values()}))).all())
    return [{"name": r.name, "title": r.title, "summary": r.summary, "category": r.category,
             "version": r.version, "terms": {"kind": r.terms_kind, **(r.terms or {})},
             "publisher": {"code": r.publisher_code, "name": names.get(r.publisher_code, "")},
             "implements": r.implements, "tags": list(r.tags or []), "adopters": adopters.get(i, 0),
             "published_at": r.published_at, "score": round(float(scores.get(i, 0.0)), 3)}
            for i in ids if (r := rows[i])]

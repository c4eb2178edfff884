"""Catalogue search on PostgreSQL: weighted tsvector match, rank, facets and page in one statement.

The analysed text (CJK bigrams, see ``marketplace.catalog.search``) is stored
as one ``tsvector`` per module (``simple`` configuration: no stemming, no stop
words), title A, label B, summary C, operations and README D, under a GIN index
without a pending list (catalogue writes are rare; a pending list made every
query scan it). Rows are kept inline (``toast_tuple_target``): reading a
TOASTed vector per hit cost more than the match itself.

A broad query (跨域通办 hits 8,384 of 10,000) used to bring every hit to Python
for facets and ordering; here PostgreSQL materialises the hits once and returns
only the facet counts and the requested page (≈ 60 rows).
"""
from __future__ import annotations

from functools import reduce
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.catalog.models import SearchEntry, SearchTag
from marketplace.runtime.models import Installation

# tsvector weight label per field (title, label, summary, operations, README), and
# ts_rank's {D, C, B, A} weights (≤ 1 each): the field weights 10/5/3/2+1 ÷ 10,
# operations and README sharing D; scores are scaled back by RANK_SCALE
LABELS = ("A", "B", "C", "D", "D")
RANK_WEIGHTS = "{0.15,0.3,0.5,1.0}"
RANK_SCALE = 10.0

_SIMPLE = sa.literal_column("'simple'::regconfig")
search_table = SearchEntry.__table__
tags_table = SearchTag.__table__


def tsquery(atoms: list[tuple[list[str], bool]]) -> sa.ColumnElement:
    """Every atom a phrase (``企业 <-> 业开 <-> 开办``) or a prefix (``税:*``), all AND-ed."""
    parts = [sa.func.to_tsquery(_SIMPLE, tokens[0] + ":*") if prefix  # one CJK character: safe
             else sa.func.phraseto_tsquery(_SIMPLE, " ".join(tokens)) for tokens, prefix in atoms]
    return reduce(lambda a, b: a.op("&&")(b), parts)


def vector(fields: tuple[str, ...]) -> sa.ColumnElement:
    """Weighted tsvector of one card's analysed fields, bound as ``v_<field>``."""
    parts = [sa.func.setweight(sa.func.to_tsvector(_SIMPLE, sa.bindparam(f"v_{field}", type_=sa.Text)),
                               sa.literal_column(f"'{label}'")) for field, label in zip(fields, LABELS)]
    return reduce(lambda a, b: a.op("||")(b), parts)


def write_vectors(session: Session, cards: list[dict[str, Any]], fields: tuple[str, ...]) -> None:
    """Set search_vector of freshly inserted cards from their analysed fields."""
    c = search_table.c
    session.execute(sa.update(search_table).where(c.module_id == sa.bindparam("v_module_id"))
                    .values(search_vector=vector(fields)),
                    [{"v_module_id": card["module_id"], **{f"v_{f}": card[f] for f in fields}}
                     for card in cards])


def ranked_search(session: Session, atoms: list, conditions: list, sort: str, page: int, per_page: int,
                  top_tags: int) -> tuple[list[int], dict[int, float], dict[int, int], int, dict]:
    """→ (page ids in order, their scores, their adopters, total, facets), one round trip."""
    c = search_table.c
    query = tsquery(atoms)
    score = sa.func.ts_rank(sa.literal_column(f"'{RANK_WEIGHTS}'::float4[]"), c.search_vector, query)
    hits = (sa.select(c.module_id, (score * RANK_SCALE).label("score"), c.category, c.terms_kind,
                      c.publisher_code, c.name, c.published_at, c.price_minor)
            .where(c.search_vector.op("@@")(query), *conditions).cte("hits"))
    h = hits.c
    no_id, no_score = sa.cast(sa.null(), sa.Integer), sa.cast(sa.null(), sa.Float)

    def facet(kind: str, key: Any) -> sa.Select:
        return (sa.select(sa.literal(kind).label("kind"), sa.cast(key, sa.Text).label("key"),
                          sa.func.count().label("n"), no_id, no_score).select_from(hits).group_by(key))

    tag_counts = (sa.select(tags_table.c.tag, sa.func.count().label("n"))
                  .select_from(hits.join(tags_table, tags_table.c.module_id == h.module_id))
                  .group_by(tags_table.c.tag).order_by(sa.desc("n"), tags_table.c.tag).limit(top_tags)
                  .subquery("tag_counts"))
    i = Installation.__table__
    adoption = (sa.select(i.c.module_id, sa.func.count().label("n")).where(i.c.state == "active")
                .group_by(i.c.module_id).subquery("adoption"))
    adopted = sa.func.coalesce(adoption.c.n, 0)
    order = {"relevance": [h.score.desc(), adopted.desc(), h.name],
             "adopters": [adopted.desc(), h.score.desc(), h.name],
             "newest": [h.published_at.desc(), h.name],
             "price": [h.price_minor, h.score.desc(), h.name]}[sort]
    chosen = (sa.select(h.module_id, h.score, adopted.label("adopters"),
                        sa.func.row_number().over(order_by=order).label("position"))
              .select_from(hits.outerjoin(adoption, adoption.c.module_id == h.module_id))
              .order_by(*order).limit(per_page).offset((page - 1) * per_page).subquery("chosen"))
    statement = sa.union_all(
        facet("category", h.category), facet("terms", h.terms_kind),
        facet("publisher_province", sa.func.substr(h.publisher_code, 1, 2) + "0000"),
        sa.select(sa.literal("tags"), sa.cast(tag_counts.c.tag, sa.Text), tag_counts.c.n, no_id, no_score),
        sa.select(sa.literal("item"), sa.cast(chosen.c.position, sa.Text), chosen.c.adopters, chosen.c.module_id,
                  chosen.c.score))
    facets: dict[str, dict[str, int]] = {"category": {}, "terms": {}, "publisher_province": {}, "tags": {}}
    ids, scores, adopters, positions = [], {}, {}, {}
    for kind, key, n, module_id, row_score in session.execute(statement):
        if kind == "item":
            ids.append(module_id)
            positions[module_id] = int(key)
            scores[module_id], adopters[module_id] = row_score, n
        else:
            facets[kind][key] = n
    # a union's row order is not guaranteed: items and tags get their order back here
    ids.sort(key=positions.__getitem__)
    facets["tags"] = dict(sorted(facets["tags"].items(), key=lambda kv: (-kv[1], kv[0])))
    return ids, scores, adopters, sum(facets["category"].values()), facets

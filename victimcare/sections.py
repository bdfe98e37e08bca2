"""The sections of a person's file as the file page shows them.

Each feature module registers its section once (at import of its views): the tab, and a
summary card on the file page with the data a loader returns. The page shows a card only
where ``access.can(user, "read", person, key)`` (asked once per page: ``access.rights``).

Most files have rows in a few sections only, and every loader's queries cost the same whether they
find rows or not. So a section names the tables its card reads (``rows_in``, each with a
``person_id``) and what its card holds when none of them has a row for the person (``empty``): one
query asks every table at once, and only the sections with rows are loaded.
tests/test_file_page.py checks that ``empty(person)`` is what ``load(person)`` gives for such a file."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from flask import g, has_request_context
from sqlalchemy import bindparam, exists, literal_column, select, union_all
from sqlalchemy.orm.attributes import set_committed_value

from .extensions import db


@dataclass(frozen=True)
class FileSection:
    key: str                      # the access section
    title: object                 # a lazy gettext string
    endpoint: str                 # url_for(endpoint, person_id=...) is the section's page
    order: int = 100
    summary_template: str | None = None
    load: Callable | None = None  # load(person) -> dict for the summary template
    # Models with a person_id such that, when none of them has a row for the person, load(person) gives
    # empty(person) without asking the database.
    rows_in: tuple = ()
    empty: Callable | None = None


REGISTRY: dict[str, FileSection] = {}


def register(section: FileSection) -> None:
    assert (section.empty is None) == (not section.rows_in), section.key
    REGISTRY[section.key] = section


def file_sections() -> list[FileSection]:
    return sorted(REGISTRY.values(), key=lambda s: s.order)


def load_cards(person, readable, relations: dict | None = None) -> list[tuple[FileSection, dict]]:
    """The cards of the sections in ``readable`` (keys), in page order, each with its loader's data.

    ``relations`` ({attribute: model}) are list relationships of the person the page shows (its
    aliases): the same query asks for their rows, and one without any is set empty, not loaded."""
    shown = [s for s in file_sections() if s.summary_template and s.key in readable]
    relations = relations or {}
    with_rows = _tables_with_rows(person, {m for s in shown for m in s.rows_in} | set(relations.values()))
    for attribute, model in relations.items():
        if model not in with_rows:
            set_committed_value(person, attribute, [])
    cards = []
    with _shared_while_loading(with_rows):
        for s in shown:
            if s.rows_in and not with_rows.intersection(s.rows_in):
                cards.append((s, s.empty(person)))
            else:
                cards.append((s, s.load(person)))
    return cards


def _tables_with_rows(person, models) -> set:
    """Which of ``models`` have a row for the person: one query (SELECT i WHERE EXISTS ... UNION ALL ...)."""
    models = tuple(sorted(models, key=lambda m: m.__tablename__))
    if not models:
        return set()
    found = db.session.scalars(_probe(models), {"person_id": person.id})
    return {models[int(i)] for i in found}


@lru_cache(maxsize=64)
def _probe(models: tuple):
    """The statement for a set of tables (one per role's set of readable sections), built once: building
    a dozen EXISTS clauses cost more than running them."""
    person_id = bindparam("person_id")
    probes = [select(literal_column(str(i))).where(exists().where(m.person_id == person_id))
              for i, m in enumerate(models)]
    return union_all(*probes) if len(probes) > 1 else probes[0]


@lru_cache(maxsize=None)
def prepared(build: Callable):
    """The statement ``build()`` gives, built once: a card's query of one person's rows, naming the
    person as ``bindparam("person_id")``. Building a select() cost about as much as running it."""
    return build()


@contextmanager
def _shared_while_loading(with_rows: set):
    g._file_page_cards = ({}, with_rows)
    try:
        yield
    finally:
        g.pop("_file_page_cards", None)


def shared(person, compute: Callable, rows_in=None, empty=None):
    """``compute(person)`` for a card loader. While the file page loads its cards, asked once where two
    cards need the same rows (a person's stays: placement and residence), and not asked at all (``empty``)
    where the page's query found no row of ``rows_in`` for the person. Anywhere else, computed."""
    loading = g.get("_file_page_cards") if has_request_context() else None
    if loading is None:
        return compute(person)
    cache, with_rows = loading
    if rows_in is not None and rows_in not in with_rows:
        return empty
    key = (person.id, compute)
    if key not in cache:
        cache[key] = compute(person)
    return cache[key]

"""The sections of a person's file as the file page shows them.

Each feature module registers its section once (at import of its views): the tab, and a
summary card on the file page with the data a loader returns. The page shows a card only
where ``access.can(user, "read", person, key)``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class FileSection:
    key: str                      # the access section
    title: object                 # a lazy gettext string
    endpoint: str                 # url_for(endpoint, person_id=...) is the section's page
    order: int = 100
    summary_template: str | None = None
    load: Callable | None = None  # load(person) -> dict for the summary template


REGISTRY: dict[str, FileSection] = {}


def register(section: FileSection) -> None:
    REGISTRY[section.key] = section


def file_sections() -> list[FileSection]:
    return sorted(REGISTRY.values(), key=lambda s: s.order)

"""PDF rendering (WeasyPrint) behind one function, with a fetcher that cannot leave the app.

A printout may carry text typed by anyone (names, notes): the fetcher refuses every URL except
``data:`` and files inside the app's own static folder, so markup in a value can never make the
renderer read the file system or reach the network."""
from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from flask import current_app
from weasyprint import HTML
from weasyprint.urls import URLFetcher


class AppOnlyFetcher(URLFetcher):
    def __init__(self, static_folder: str):
        super().__init__(allowed_protocols=("data", "file"), allow_redirects=False, timeout=2)
        self.static_folder = os.path.realpath(static_folder)

    def fetch(self, url, headers=None):
        if url.startswith("data:"):
            return super().fetch(url, headers)
        parts = urlsplit(url)
        path = os.path.realpath(unquote(parts.path))
        if parts.scheme != "file" or os.path.commonpath([path, self.static_folder]) != self.static_folder:
            raise ValueError(f"refused to fetch {url!r} while rendering a PDF")
        return super().fetch(url, headers)


def render_pdf(html: str) -> bytes:
    """HTML (from a template in templates/pdf/) to PDF bytes. Relative URLs resolve in static/."""
    static = current_app.static_folder
    return HTML(string=html, base_url=f"file://{static}/", url_fetcher=AppOnlyFetcher(static)).write_pdf()


def render_document(html: str):
    """Like render_pdf, but the laid-out document (its pages can be counted or combined)."""
    static = current_app.static_folder
    return HTML(string=html, base_url=f"file://{static}/", url_fetcher=AppOnlyFetcher(static)).render()


def combine(documents) -> bytes:
    """Several rendered documents as one PDF; each keeps its own page numbers ("page x of y")."""
    pages = [page for document in documents for page in document.pages]
    return documents[0].copy(pages).write_pdf()


def merge(parts: list[bytes]) -> bytes:
    """Concatenate finished PDFs (the parts of a batch, rendered in separate requests)."""
    import io

    from pypdf import PdfWriter  # needs pypdf in install_requires (it is in the test extra today)
    writer = PdfWriter()
    for part in parts:
        writer.append(io.BytesIO(part))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()

"""axe-core in the browser tests: inject the pinned copy into a page, run it, fail on serious findings.

axe-core comes from the npm registry, pinned in tests/e2e/package-lock.json and installed by
`scripts/setup.sh test` (`npm ci --prefix tests/e2e`). It is evaluated through the DevTools protocol
(`page.evaluate`), which the page's Content-Security-Policy does not govern, so the pages are checked
with their real CSP in force (no `bypass_csp`): what axe sees is what a user's browser renders.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

AXE_JS = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"

# The impacts that fail a test; "moderate" and "minor" findings are tolerated.
BLOCKING = ("serious", "critical")

# WCAG 2.x A and AA rules plus axe's best practices (headings, landmarks, skip link).
RUN_OPTIONS = {"runOnly": {"type": "tag",
                           "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
               "resultTypes": ["violations"]}


def _path() -> Path:
    if not AXE_JS.exists():
        raise RuntimeError(f"{AXE_JS} is missing: run `npm ci --prefix tests/e2e` (scripts/setup.sh test does)")
    return AXE_JS


@functools.cache
def _source() -> str:
    return _path().read_text(encoding="utf-8")


def version(page) -> str:
    inject(page)
    return page.evaluate("() => axe.version")


def install(page) -> None:
    """Have every document the page's context loads from now on start with axe already in it: one
    registration instead of sending the 650 kB script over the protocol after each navigation. Like
    ``page.evaluate``, an init script is not subject to the page's CSP."""
    page.context.add_init_script(path=str(_path()))


def inject(page) -> None:
    """Load axe into the current document unless it is there already (``install``, or a previous call)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_source())


def violations(page, context=None) -> list[dict]:
    """Every axe violation on the current page, as axe reports them."""
    inject(page)
    return page.evaluate("([ctx, opts]) => axe.run(ctx || document, opts).then(r => r.violations)",
                         [context, RUN_OPTIONS])


def describe(found: list[dict]) -> str:
    """One line per affected element: impact, rule id, target selector, what to do (help and link)."""
    lines = []
    for v in found:
        for node in v["nodes"]:
            target = " ".join(json.dumps(t, ensure_ascii=False) if not isinstance(t, str) else t
                              for t in node["target"])
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"[{v['impact']}] {v['id']} at {target}: {v['help']} ({v['helpUrl']}) {summary}")
    return "\n".join(lines)


def blocking(found: list[dict]) -> list[dict]:
    return [v for v in found if v["impact"] in BLOCKING]


def assert_accessible(page, label: str = "") -> list[dict]:
    """Fail when axe finds a serious or critical violation on the current page.

    Returns the tolerated (moderate/minor) violations so a caller can report them."""
    found = violations(page)
    bad = blocking(found)
    where = label or page.url
    assert not bad, f"axe found serious/critical violations on {where}:\n{describe(bad)}"
    return found

"""axe-core in the browser tests: inject it into a page and fail on what hurts people.

axe.min.js comes from the pinned npm package (package.json); scripts/build_static.sh copies it
to tests/browser/vendor/, which nothing serves to users. It is evaluated in the page through
the DevTools protocol rather than added as a <script> tag: our Content-Security-Policy refuses
inline scripts without the response's nonce (as it should), and loosening it for the tests, or
bypassing it in the browser, would hide the CSP problems these tests are meant to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
# What fails a test: a page that blocks or seriously hinders someone. Moderate and minor
# findings are reported by axe too but are judgement calls, not regressions to stop on.
FAILING_IMPACTS = ("critical", "serious")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The critical and serious violations axe finds on the page as it is now (WCAG 2.0, 2.1
    and 2.2 A and AA, and axe's best practices)."""
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: run scripts/build_static.sh (it copies axe-core there)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    results = page.evaluate(
        """async () => {
            const result = await axe.run(document, {
              runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                               'wcag22aa', 'best-practice'] },
              resultTypes: ['violations'],
              // No CSSOM preload: axe would fetch @import-ed stylesheets (the admin's forms.css
              // imports widgets.css) and add them back as inline <style>, which the CSP rightly
              // refuses: a console error of axe's own making. Only css-orientation-lock needs it.
              preload: false,
            })
            return result.violations
          }"""
    )
    return [v for v in results if v["impact"] in FAILING_IMPACTS]


def describe(violations: list[dict[str, Any]]) -> str:
    """One line per rule and up to five offending elements under it: enough to find and fix."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['impact']}: {violation['id']} – {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(
                f"    {' '.join(node['target'])}: {node['failureSummary'].splitlines()[-1]}"
            )
        if len(violation["nodes"]) > 5:
            lines.append(f"    … and {len(violation['nodes']) - 5} more")
    return "\n".join(lines)

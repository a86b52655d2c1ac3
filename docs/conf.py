"""Sphinx configuration for the django-multipay documentation.

Pages are Markdown, read by MyST. Build with ``make docs`` from the
repository root; warnings fail the build.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The directives that draw the gateway tables from the backends (docs/_ext).
sys.path.insert(0, str(ROOT / "docs" / "_ext"))


def _project_version() -> str:
    """Read ``__version__`` (its one place) without importing the package."""
    text = (ROOT / "django_multipay" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, flags=re.MULTILINE)
    return match.group(1) if match else ""


# -- Project -----------------------------------------------------------------

project = "django-multipay"
author = "django-multipay contributors"
copyright = "django-multipay contributors"
release = _project_version()
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = ["myst_parser", "gateway_tables"]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: ::: fences for directives, definition lists, and slug anchors on
# h1-h3 headings so pages can link to a section with page.md#slug.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- HTML --------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"{project} {release}".strip()

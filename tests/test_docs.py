"""The user guide: README.md and docs/ build into a site with no broken link and refer to nothing outside the repo.

The site is built by the real MkDocs (requirements/docs.txt, installed by `make docs`) in strict mode, as
`make docs` builds it; its validation settings in mkdocs.yml turn a broken link or anchor, or a page missing from
the nav, into a failed build.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
# Folders that are not the project's files: git's, the virtualenv, local state, caches.
NOT_PROJECT = {".git", ".venv", ".local", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
# A path outside the repository: the shared notes beside a checkout, or an absolute path of one machine's layout.
# Written in pieces so this file does not match itself.
OUTSIDE_PATHS = re.compile(rb"\.\./" + rb"shared\b|/" + rb"work/")
MARKDOWN_LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
EXTERNAL_LOAD = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml"), "-d", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if "No module named mkdocs" in proc.stderr:
        pytest.fail("MkDocs is not installed: `make docs` installs requirements/docs.txt into .venv")
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_the_site_builds_strictly_with_every_page(site):
    pages = sorted(p.relative_to(REPO / "docs").with_suffix(".html").as_posix() for p in (REPO / "docs").rglob("*.md"))
    missing = [page for page in pages if not (site / page).is_file()]
    assert not missing, f"pages not built: {missing}"
    assert "architecture.html" in pages and "es/inicio-rapido.html" in pages


def test_no_page_loads_anything_from_outside_the_site(site):
    # A reader offline (and CI) must get the whole page: no CDN scripts, styles or fonts.
    offenders = {
        str(p.relative_to(site)): EXTERNAL_LOAD.findall(p.read_text(encoding="utf-8")) for p in site.rglob("*.html")
    }
    assert not {k: v for k, v in offenders.items() if v}


def _project_files():
    """The files git tracks or would add: what a clone carries, without ignored build and run artifacts."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    for name in sorted(set(listed.decode().split("\0")) - {""}):
        rel = Path(name)
        path = REPO / rel
        if path.is_file() and not NOT_PROJECT.intersection(rel.parts):
            yield path, rel


def test_no_file_refers_to_a_path_outside_the_repository():
    found = []
    for path, rel in _project_files():
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if OUTSIDE_PATHS.search(line):
                found.append(f"{rel}:{number}: {line.decode('utf-8', 'replace').strip()[:120]}")
    assert not found, "files refer to paths outside the repository:\n" + "\n".join(found)


def _anchors(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def test_every_relative_link_in_the_readme_resolves(site):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    # Code blocks hold shell and diagrams, not links.
    prose = re.sub(r"```.*?```", "", readme, flags=re.S)
    links = [a or b for a, b in MARKDOWN_LINK.findall(prose)]
    relative = [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link, re.I)]
    assert relative, "README.md links into docs/"
    broken = []
    for link in relative:
        target, _, anchor = link.partition("#")
        path = (REPO / unquote(target)).resolve() if target else REPO / "README.md"
        if not path.exists() or REPO not in path.parents:
            broken.append(f"{link}: no such file in the repository")
            continue
        if anchor and path.suffix == ".md":
            if path.parent == REPO:
                html_anchors = _anchors(_github_like_ids(path))
            else:
                page = site / path.relative_to(REPO / "docs").with_suffix(".html")
                html_anchors = _anchors(page.read_text(encoding="utf-8"))
            if anchor not in html_anchors:
                broken.append(f"{link}: no heading with the anchor #{anchor}")
    assert not broken, "README.md has broken links:\n" + "\n".join(broken)


def _github_like_ids(path: Path) -> str:
    """The heading ids of a Markdown file outside docs/, as MkDocs' toc would make them, wrapped as HTML ids."""
    from markdown.extensions.toc import slugify

    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    heads = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)
    return " ".join(f'id="{slugify(re.sub(r"[`*]", "", h), "-")}"' for h in heads)

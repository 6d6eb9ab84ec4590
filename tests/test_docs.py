"""The documentation's shape, read from the Markdown sources (no Sphinx; `make docs` builds it):
a short README, a home in the docs for each section of the long README it replaced, the
demos' sample outputs in one place, and README links that resolve on the repository page."""
import glob
import os.path as osp
import re
from typing import List

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = osp.join(ROOT, 'docs')
README = osp.join(ROOT, 'README.md')
MAX_README_LINES = 250

# The headings of README.md at 08f9107 (`grep -n '^#' README.md`), when it held everything,
# and the page that holds each section's facts now. README.md itself is the docs' front page.
FORMER_README_HEADINGS = {
    '# asl_mmdet': 'README.md',
    '## Quick start': 'README.md',
    '## Use it in an MMDetection config': 'docs/user_guides/detection.md',
    '## Per-class weights and unknown labels': 'docs/user_guides/unknown_labels.md',
    '## Detection: ASL vs focal loss': 'docs/user_guides/detection.md',
    '## Multi-label classification (mmpretrain)': 'docs/user_guides/classification.md',
    '### Unknown labels: COCO crowds, VOC difficult objects':
        'docs/user_guides/unknown_labels.md',
    '## Single-label classification (mmpretrain)': 'docs/user_guides/classification.md',
    '## Analysis tools': 'docs/user_guides/paper_analysis.md',
    '## Probability gap and adaptive asymmetry': 'docs/user_guides/paper_analysis.md',
    '## Install into your own environment': 'docs/get_started.md',
    '## Layout': 'docs/advanced_guides/development.md',
    '## Tests': 'docs/advanced_guides/development.md',
}


def read(path: str) -> str:
    with open(osp.join(ROOT, path), encoding='utf-8') as f:
        return f.read()


def headings(text: str) -> List[str]:
    """The titles of the Markdown headings outside fenced code blocks."""
    titles, fenced = [], False
    for line in text.splitlines():
        if line.startswith('```'):
            fenced = not fenced
        elif not fenced and re.match(r'#{1,6} ', line):
            titles.append(line.lstrip('#').strip())
    return titles


def toctree_entries() -> List[str]:
    """The documents the toctrees of docs/index.md name (paths relative to docs/, no suffix)."""
    entries = []
    for block in re.findall(r'```\{toctree\}\n(.*?)```', read('docs/index.md'), re.S):
        entries += [line.strip() for line in block.splitlines()
                    if line.strip() and not line.startswith(':')]
    return entries


def test_readme_is_short():
    with open(README, encoding='utf-8') as f:
        lines = f.read().splitlines()
    assert len(lines) <= MAX_README_LINES, f'README.md has {len(lines)} lines'


@pytest.mark.parametrize('heading', FORMER_README_HEADINGS)
def test_each_former_readme_section_has_a_page(heading):
    page = FORMER_README_HEADINGS[heading]
    assert osp.isfile(osp.join(ROOT, page)), page
    title = heading.lstrip('#').strip()
    assert title in headings(read(page)), f'{page} has no heading {title!r}'
    if page == 'README.md':  # the front page of the docs
        assert re.search(r'```\{include\} \.\./README\.md', read('docs/index.md'))
    else:
        assert osp.splitext(osp.relpath(page, 'docs'))[0] in toctree_entries(), \
            f'{page} is in no toctree of docs/index.md'


def test_every_page_is_in_the_navigation():
    pages = {osp.splitext(osp.relpath(path, DOCS))[0]
             for path in glob.glob(osp.join(DOCS, '**', '*.md'), recursive=True)}
    assert pages - {'index'} == set(toctree_entries())


def test_demo_sample_outputs_live_on_the_demos_page():
    """A demo's whole console output (it ends with `== N runs trained and compared in ...`) is
    kept on one page; the README shows a short table of it."""
    homes = {}
    for path in [README] + glob.glob(osp.join(DOCS, '**', '*.md'), recursive=True):
        with open(path, encoding='utf-8') as f:
            count = len(re.findall(r'== \d+ runs trained and compared in', f.read()))
        if count:
            homes[osp.relpath(path, ROOT)] = count
    assert list(homes) == ['docs/user_guides/demos.md'], homes


def test_readme_links_resolve_in_the_repository():
    """README.md is read on the repository page too: its relative links and images point at
    files of the repository."""
    targets = re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', read('README.md'))
    relative = [t for t in targets if not re.match(r'[a-z]+://', t)]
    assert relative, 'no relative link found: the pattern is wrong'
    missing = [t for t in relative if not osp.exists(osp.join(ROOT, t))]
    assert missing == []

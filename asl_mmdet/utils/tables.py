"""The one Markdown table writer of the tools: compare's tables, the benchmarks, the compile
report."""
from typing import List, Optional

__all__ = ['markdown_table']


def markdown_table(rows: List[dict], title: Optional[str] = None) -> str:
    """A Markdown table of ``rows`` (dicts with the same keys, in column order), columns padded
    to their widest cell; ``title`` and a blank line before it if given."""
    if not rows:
        raise ValueError('markdown_table needs at least one row')
    columns = list(rows[0])
    cells = [[str(row[column]) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells))
              for i, column in enumerate(columns)]

    def line(values):
        return '| ' + ' | '.join(v.ljust(w) for v, w in zip(values, widths)) + ' |'

    lines = [line(columns), '|' + '|'.join('-' * (w + 2) for w in widths) + '|']
    lines += [line(values) for values in cells]
    return '\n'.join(([title, ''] if title else []) + lines)

"""The one Markdown table writer."""
import pytest

from asl_mmdet.utils.tables import markdown_table


def test_columns_padded_to_the_widest_cell():
    rows = [{'name': 'fused', 'ms': '0.120'}, {'name': 'reference, eager', 'ms': '1.5'}]
    assert markdown_table(rows, 'Op time') == '\n'.join([
        'Op time',
        '',
        '| name             | ms    |',
        '|------------------|-------|',
        '| fused            | 0.120 |',
        '| reference, eager | 1.5   |',
    ])


def test_no_rows_is_an_error():
    with pytest.raises(ValueError, match='at least one row'):
        markdown_table([])

"""MMEngine's scalar logs in a work dir: what tools/compare.py and tools/analyze_logs.py read.

MMEngine's ``LocalVisBackend`` writes ``WORK_DIR/<timestamp>/vis_data/scalars.json`` with one
JSON object per line: a training record per logged iteration (``iter``, ``step``, ``loss``,
...) or a validation record (``step`` and the metrics). Every run in the work dir gets its own
timestamp, so a resumed run is spread over several files.
"""
import glob
import json
import os.path as osp
from typing import List

__all__ = ['find_scalars_files', 'read_scalars', 'run_records', 'training_records']


def find_scalars_files(work_dir: str) -> List[str]:
    """The ``<timestamp>/vis_data/scalars.json`` files of a work dir, oldest first.

    Args:
        work_dir (str): an MMEngine work dir.

    Returns:
        list[str]: the paths, sorted by timestamp.

    Raises:
        FileNotFoundError: if the work dir holds no such file.
    """
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under work dir {work_dir!r}')
    return files


def read_scalars(work_dir: str) -> List[dict]:
    """Every record of every ``scalars.json`` in a work dir, in logging order.

    Args:
        work_dir (str): an MMEngine work dir.

    Returns:
        list[dict]: the records of the files from the oldest timestamp to the newest.

    Raises:
        FileNotFoundError: if the work dir holds no ``scalars.json``.
        ValueError: if a line is not a JSON object; the message names the file and the line
            number (1-based).
    """
    return [record for path in find_scalars_files(work_dir) for record in _read_file(path)]


def _read_file(path: str) -> List[dict]:
    records = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f'{path} line {number}: not JSON ({error.msg})') from None
            if not isinstance(record, dict):
                raise ValueError(f'{path} line {number}: not a JSON object')
            records.append(record)
    return records


def run_records(work_dir: str) -> List[dict]:
    """The records of the newest run in a work dir, a resumed run whole: those of every
    ``scalars.json`` (oldest timestamp first), where each file's first training record
    replaces the older files' records from its step on.

    A run resumed from a checkpoint starts past the older records and continues them; a run
    started again from scratch (``make demo`` twice) replaces them all.

    Args:
        work_dir (str): an MMEngine work dir.

    Returns:
        list[dict]: the records, in logging order.

    Raises:
        FileNotFoundError, ValueError: as :func:`read_scalars`.
    """
    kept: List[dict] = []
    for path in find_scalars_files(work_dir):
        records = _read_file(path)
        starts = [record['step'] for record in records if 'iter' in record and 'step' in record]
        if starts:
            kept = [record for record in kept if record.get('step', -1) < min(starts)]
        kept += records
    return kept


def training_records(records: List[dict]) -> List[dict]:
    """The training records (those with an ``iter`` key), one per iteration, by iteration.

    Where the iteration count goes back (a run resumed from an earlier checkpoint, or a new
    run started in the same work dir), the newer records replace the older ones from that
    iteration on, so a resumed run reads as one curve and a restarted run as the newest.

    Args:
        records (list[dict]): records in logging order, as :func:`read_scalars` returns them.

    Returns:
        list[dict]: the training records in increasing ``iter``.
    """
    kept: List[dict] = []
    for record in records:
        if 'iter' not in record:
            continue
        while kept and kept[-1]['iter'] >= record['iter']:
            kept.pop()
        kept.append(record)
    return kept

"""asl_mmdet.analysis.logs: reading MMEngine's scalars.json files of a work dir."""
import pytest

from asl_mmdet.analysis.logs import find_scalars_files, read_scalars, training_records
from tests.run_utils import write_scalars


def test_files_are_read_oldest_first(tmp_path):
    newer = write_scalars(tmp_path, '20240102_000000', [dict(iter=3, loss=0.3)])
    older = write_scalars(tmp_path, '20240101_000000', [dict(iter=1, loss=0.5),
                                                        {'coco/bbox_mAP': 0.1, 'step': 1}])
    (tmp_path / '20240103_000000').mkdir()  # a run that crashed before logging
    assert find_scalars_files(str(tmp_path)) == [older, newer]
    assert read_scalars(str(tmp_path)) == [dict(iter=1, loss=0.5),
                                           {'coco/bbox_mAP': 0.1, 'step': 1},
                                           dict(iter=3, loss=0.3)]


def test_no_scalars_is_an_error_naming_the_work_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match='no \\*/vis_data/scalars.json under work dir'):
        read_scalars(str(tmp_path / 'missing'))


def test_training_records_join_a_resumed_run_and_drop_validation():
    records = [dict(iter=10, a=1), dict(iter=20, a=2), dict(step=20, acc=0.5),
               dict(iter=30, a=3), dict(iter=40, a=4)]
    assert [r['a'] for r in training_records(records)] == [1, 2, 3, 4]


def test_training_records_newer_records_replace_older_ones_from_where_they_restart():
    old = [dict(iter=i, run='old') for i in (10, 20, 30, 40)]
    resumed_from_20 = [dict(iter=i, run='resumed') for i in (30, 40, 50)]
    assert [(r['iter'], r['run']) for r in training_records(old + resumed_from_20)] == [
        (10, 'old'), (20, 'old'), (30, 'resumed'), (40, 'resumed'), (50, 'resumed')]
    restarted = [dict(iter=i, run='new') for i in (10, 20)]
    assert [(r['iter'], r['run']) for r in training_records(old + restarted)] == [
        (10, 'new'), (20, 'new')]

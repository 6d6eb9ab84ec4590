# ATSS R50-FPN 1x COCO with MMDetection's FocalLoss: the baseline of atss_r50_asl.py.
# MMDetection's own config, unchanged but for the plugin import, so that its ASL sibling differs
# from it in model.bbox_head.loss_cls alone.
_base_ = 'mmdet::atss/atss_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['asl_mmdet'], allow_failed_imports=False)

# DINO-4scale R50 12e COCO with MMDetection's FocalLoss: the baseline of dino-4scale_r50_asl.py.
# MMDetection's own config, unchanged but for the plugin import, so that its ASL sibling differs
# from it in model.bbox_head.loss_cls alone.
_base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'
custom_imports = dict(imports=['asl_mmdet'], allow_failed_imports=False)

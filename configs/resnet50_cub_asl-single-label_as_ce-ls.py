# CUB-200-2011 with ASLSingleLabelLoss configured as label-smoothed cross-entropy
# (gamma_pos = gamma_neg = 0, label_smoothing = 0.1): the same loss as resnet50_cub_ce-ls.py,
# computed by asl_mmdet. `make demo-single` trains it beside the cross-entropy run as the
# calibration: its difference from that run is the noise floor.
_base_ = './resnet50_cub_asl-single-label.py'
model = dict(head=dict(loss=dict(gamma_pos=0.0, gamma_neg=0.0)))

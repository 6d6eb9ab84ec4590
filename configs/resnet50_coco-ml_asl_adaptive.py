# Multi-label COCO classification with ASL whose gamma_neg adapts to a target probability gap
# after each batch (paper Sec. 2.7, Eq. 11, on the paper's own task): resnet50_coco-ml_asl.py
# (its gamma_neg=4 is the starting value) plus AdaptiveAsymmetryHook, which also logs p_t+, p_t-,
# Delta p and gamma_neg (asl_p_pos, asl_p_neg, asl_delta_p, asl_gamma_neg in scalars.json).
#
# The update is gamma_neg <- max(0, gamma_neg + step * (target_gap - Delta p)): Eq. 11 with the
# sign that converges (raising gamma_neg raises Delta p; see the hook's docstring).
#
# target_gap=0.2: the paper's best adaptive mAP on MS-COCO (Table 3: 86.4 at 0.2, final
# gamma_neg 5.2; 86.1 at 0.1).
# step=1e-2: the paper gives no step size, only that gamma_neg settles within the first 10% of
# training (Figure 9). At batch 128 an epoch of COCO 2014 train is about 650 iterations, so 10%
# of the 40 trained epochs is about 2.6k iterations; with the gap off by about 0.2, 1e-2 per
# iteration moves gamma_neg by about 2 per 1000 iterations, enough to reach Table 3's final
# values (1.2 to 6.2) within that window.
# No max_gamma_neg: in multi-label classification the target gap can be met (unlike dense
# detection: configs/atss_r50_asl_adaptive.py).
_base_ = './resnet50_coco-ml_asl.py'
custom_hooks = [
    dict(type='EMAHook', momentum=1 - 0.9997, update_buffers=True, priority=49),
    dict(type='AdaptiveAsymmetryHook', target_gap=0.2, step=1e-2),
]

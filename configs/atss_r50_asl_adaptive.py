# ATSS R50-FPN 1x COCO with ASL whose gamma_neg adapts to a target probability gap after each
# batch (paper Sec. 2.7, Eq. 11): configs/atss_r50_asl.py (gamma_neg=2 is the starting value)
# plus AdaptiveAsymmetryHook, which also logs p_t+, p_t-, Delta p and gamma_neg
# (train/asl_p_pos, train/asl_p_neg, train/asl_delta_p, train/asl_gamma_neg).
#
# The update is gamma_neg <- max(0, gamma_neg + step * (target_gap - Delta p)): Eq. 11 with the
# sign that converges (raising gamma_neg raises Delta p; see the hook's docstring).
#
# target_gap=0.1: the paper's Table 3 (MS-COCO multi-label) gives its best adaptive mAP for
# Delta p_target 0.1 to 0.2 (86.1 and 86.4 vs 85.8 at 0); 0.1 is the setting of its Figure 9.
# step=1e-3: the paper gives no step size, only that gamma_neg settles within the first 10% of
# training (Figure 9). With the gap off by about 1, 1e-3 per iteration moves gamma_neg by about
# 1 per 1000 iterations, so it can cover Table 3's range of final values (1.2 to 6.2) within
# about 5k iterations, 6% of this 1x schedule (12 epochs x 7330 iterations at batch size 16).
# max_gamma_neg=6: about Table 3's largest final gamma_neg (6.2). Not in the paper, and needed
# for detection: the 10^4-10^5 background anchors of an image keep p_t- close to 1, so Delta p
# starts near -1 (p_t+ is the 0.01 prior) and stays far below 0 (-0.91 at iteration 10, -0.82
# at 90 in the demo's ATSS ASL run); a positive target can then not be met, and gamma_neg climbs
# to the cap.
_base_ = './atss_r50_asl.py'
custom_hooks = [
    dict(type='AdaptiveAsymmetryHook', target_gap=0.1, step=1e-3, max_gamma_neg=6.0),
]

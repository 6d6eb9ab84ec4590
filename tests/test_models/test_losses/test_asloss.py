"""ASLoss as an MMDetection module: registry, config building, MMDetection's and mmpretrain's
losses as oracles, and argument errors."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

from asl_mmdet import ASLoss
from mmdet.models.losses import FocalLoss
from mmdet.registry import MODELS
from tests.asl_oracle import asl_paper, one_hot, probability_sums_f64

OUR_MODULE = 'asl_mmdet.models.losses.asymmetric_loss'


def test_config_builds_our_class_in_mmdet_scope():
    """A config with custom_imports builds ours; mmpretrain's AsymmetricLoss stays its own."""
    cfg = Config(dict(
        custom_imports=dict(imports=['asl_mmdet'], allow_failed_imports=False),
        loss_cls=dict(type='ASLoss', use_sigmoid=True, gamma_neg=3.0)))
    import_modules_from_strings(**cfg.custom_imports)
    init_default_scope('mmdet')
    loss = MODELS.build(cfg.loss_cls)
    assert type(loss).__module__ == OUR_MODULE and type(loss).__name__ == 'ASLoss'
    assert loss.gamma_neg == 3.0

    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    assert PRETRAIN_MODELS.get('AsymmetricLoss').__module__.startswith('mmpretrain.')
    assert PRETRAIN_MODELS.get('AsymmetricLoss') is not ASLoss
    assert MODELS.get('ASLoss') is ASLoss


def test_mmpretrain_published_values_through_module():
    cls_score = torch.Tensor([[5, -5, 0], [5, -5, 0]])
    label = torch.Tensor([[1, 0, 1], [0, 1, 0]])
    loss = ASLoss(gamma_pos=1.0, gamma_neg=4.0, clip=0.05, reduction='mean')
    assert torch.allclose(loss(cls_score, label), torch.tensor(3.80845 / 3))
    weight = torch.tensor([0.5, 0.5])
    assert torch.allclose(loss(cls_score, label, weight), torch.tensor(3.80845 / 6))
    loss = ASLoss(gamma_pos=1.0, gamma_neg=4.0, clip=None, reduction='mean')
    assert torch.allclose(loss(cls_score, label), torch.tensor(5.1186 / 3))


def test_equals_mmpretrain_asymmetric_loss_on_binary_labels():
    """mmpretrain's AsymmetricLoss follows the official implementation's math."""
    from mmpretrain.models.losses import AsymmetricLoss
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(64, 80, generator=g, dtype=torch.float64) * 3
    label = (torch.rand(64, 80, generator=g) < 0.1).double()
    ours = ASLoss(gamma_pos=1.0, gamma_neg=4.0, clip=0.05)(pred, label, avg_factor=64)
    theirs = AsymmetricLoss(gamma_pos=1.0, gamma_neg=4.0, clip=0.05)(pred, label, avg_factor=64)
    # mmpretrain divides by avg_factor, MMDetection (and ASLoss) by avg_factor + eps
    eps = torch.finfo(torch.float32).eps
    torch.testing.assert_close(ours, theirs * 64 / (64 + eps), rtol=1e-12, atol=0)


@pytest.mark.parametrize('weight_kind', [None, 'n', 'nc'])
@pytest.mark.parametrize('reduction,avg_factor', [('mean', None), ('mean', 23.0), ('sum', None),
                                                  ('none', None), ('none', 23.0)])
def test_alpha_focal_setting_equals_mmdet_focal_loss(weight_kind, avg_factor, reduction):
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(300, 20, generator=g) * 3
    labels = torch.randint(0, 21, (300, ), generator=g)
    weight = {None: None, 'n': torch.rand(300, generator=g),
              'nc': torch.rand(300, 20, generator=g)}[weight_kind]
    kwargs = dict(weight=weight, avg_factor=avg_factor, reduction_override=reduction)
    focal = FocalLoss(use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.5)
    ours = ASLoss(gamma_pos=2.0, gamma_neg=2.0, clip=0.0, alpha=0.25, loss_weight=1.5)
    x1, x2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    expected, actual = focal(x1, labels, **kwargs), ours(x2, labels, **kwargs)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-7)
    expected.sum().backward()
    actual.sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize('detach', [False, True])
def test_module_matches_paper_oracle(detach):
    g = torch.Generator().manual_seed(2)
    pred = torch.randn(41, 1271, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, 1272, (41, ), generator=g)
    loss_fn = ASLoss(gamma_pos=1.0, gamma_neg=3.0, clip=0.1, detach_focal_weight=detach,
                     loss_weight=2.0)
    x = pred.clone().requires_grad_()
    loss = loss_fn(x, labels, avg_factor=17.0)
    loss.backward()
    y = pred.clone().requires_grad_()
    ref = 2.0 * asl_paper(y, one_hot(labels, 1271), 1.0, 3.0, 0.1, detach=detach).sum() / (
        17.0 + torch.finfo(torch.float32).eps)
    ref.backward()
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=0)
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-9, atol=1e-16)


def test_defaults_are_the_papers_coco_setting():
    loss = ASLoss()
    assert (loss.gamma_pos, loss.gamma_neg, loss.clip, loss.alpha) == (0.0, 4.0, 0.05, None)
    assert loss.use_sigmoid is True and loss.detach_focal_weight is False


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(use_sigmoid=False), ValueError, 'use_sigmoid.*False'),
    (dict(gamma_pos=-1), ValueError, 'gamma_pos.*-1'),
    (dict(gamma_neg=-2.0), ValueError, 'gamma_neg.*-2.0'),
    (dict(clip=1.2), ValueError, 'clip.*1.2'),
    (dict(clip=-0.05), ValueError, 'clip.*-0.05'),
    (dict(eps=0), ValueError, 'eps.*0'),
    (dict(reduction='elementwise'), ValueError, "reduction.*'elementwise'"),
    (dict(alpha=-0.25), ValueError, 'alpha.*-0.25'),
])
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ASLoss(**kwargs)


def test_forward_errors():
    loss = ASLoss()
    pred = torch.randn(5, 3)
    with pytest.raises(ValueError, match="reduction_override.*'avg'"):
        loss(pred, torch.zeros(5, dtype=torch.long), reduction_override='avg')
    with pytest.raises(ValueError, match='avg_factor'):
        loss(pred, torch.zeros(5, dtype=torch.long), avg_factor=2.0, reduction_override='sum')
    with pytest.raises(ValueError, match='class indices.*got 7'):
        loss(pred, torch.tensor([0, 1, 2, 3, 7]))



def test_prob_stats_are_off_by_default():
    loss = ASLoss()
    loss(torch.randn(4, 3), torch.tensor([0, 3, 1, 2]))
    assert loss.track_prob_stats is False and loss.pop_prob_sums() is None


def test_prob_stats_accumulate_over_calls_and_pop_clears():
    """Three calls, like an FPN head's levels: the sums add up to the hand computation over
    all of them (index targets, background rows, weights with zeros); the loss is unchanged."""
    g = torch.Generator().manual_seed(3)
    loss = ASLoss(gamma_pos=1.0, gamma_neg=2.0, clip=0.02, alpha=0.25)
    levels = []
    for n in (11, 5, 2):
        pred = (torch.randn(n, 6, generator=g) * 2).requires_grad_()
        labels = torch.randint(0, 7, (n, ), generator=g)
        weight = (torch.rand(n, generator=g) > 0.3).float()
        levels.append((pred, labels, weight))
    plain = [loss(*level, avg_factor=4.0) for level in levels]
    assert loss.pop_prob_sums() is None
    loss.track_prob_stats = True
    tracked = [loss(*level, avg_factor=4.0) for level in levels]
    for a, b in zip(plain, tracked):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    sums = loss.pop_prob_sums()
    assert sums.shape == (4, ) and not sums.requires_grad
    expected = sum(probability_sums_f64(*level) for level in levels)
    assert 0 < expected[1] < expected[3]  # positives and negatives, some weights 0
    torch.testing.assert_close(sums.double(), expected, rtol=2e-6, atol=0)
    assert loss.pop_prob_sums() is None
    loss(*levels[1])  # a fresh accumulation after the pop
    torch.testing.assert_close(loss.pop_prob_sums().double(), probability_sums_f64(*levels[1]),
                               rtol=2e-6, atol=0)


def test_prob_stats_flag_must_be_bool():
    loss = ASLoss()
    loss.track_prob_stats = 1
    with pytest.raises(TypeError, match='track_prob_stats must be a bool, got 1'):
        loss(torch.randn(4, 3), torch.tensor([0, 3, 1, 2]))


@pytest.mark.parametrize('avg_factor', [None, 40.0])
def test_ignored_labels_equal_mmdet_sigmoid_cross_entropy(avg_factor):
    """With gamma 0 and no margin ASLoss is BCE; MMDetection's sigmoid CrossEntropyLoss also
    gives dense labels < 0 weight 0 and keeps numel (avg_non_ignore=False) as the mean's
    divisor: the same loss and gradient with -1 labels."""
    from mmdet.models.losses import CrossEntropyLoss
    g = torch.Generator().manual_seed(4)
    pred = torch.randn(40, 12, generator=g) * 3
    label = (torch.rand(40, 12, generator=g) < 0.3).float()
    label[torch.rand(40, 12, generator=g) < 0.25] = -1
    weight = torch.rand(40, generator=g)
    ours = ASLoss(gamma_pos=0.0, gamma_neg=0.0, clip=0.0, loss_weight=0.5)
    theirs = CrossEntropyLoss(use_sigmoid=True, loss_weight=0.5)  # float32 only
    x1, x2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    expected = theirs(x1, label, weight[:, None].expand(40, 12), avg_factor=avg_factor)
    actual = ours(x2, label, weight, avg_factor=avg_factor)
    torch.testing.assert_close(actual, expected, rtol=1e-6, atol=0)
    expected.backward()
    actual.backward()
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-5, atol=1e-9)
    assert torch.all(x2.grad[label == -1] == 0) and torch.all(x1.grad[label == -1] == 0)


@pytest.mark.parametrize('target_kind', ['index', 'dense'])
def test_class_weight_from_config_matches_paper_oracle(target_kind):
    """``loss_cls=dict(type='ASLoss', ..., class_weight=[...])`` weights each class's column
    (both terms of Eq. 7) on top of the anchors' weights."""
    cfg = dict(type='ASLoss', use_sigmoid=True, gamma_pos=1.0, gamma_neg=2.0, clip=0.05,
               class_weight=[0.5, 2.0, 0.0, 1.0, 1.5])
    init_default_scope('mmdet')
    loss = MODELS.build(cfg)
    assert loss.class_weight == (0.5, 2.0, 0.0, 1.0, 1.5)
    assert 'class_weight=(0.5, 2.0, 0.0, 1.0, 1.5)' in repr(loss)
    g = torch.Generator().manual_seed(5)
    pred = torch.randn(30, 5, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, 6, (30, ), generator=g)  # 5: background
    dense = one_hot(labels, 5)
    target = labels if target_kind == 'index' else dense
    weight = torch.rand(30, generator=g, dtype=torch.float64)
    x1, x2 = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    actual = loss(x1, target, weight, avg_factor=12.0)
    full = weight[:, None] * torch.tensor(cfg['class_weight'], dtype=torch.float64)
    expected = (asl_paper(x2, dense, 1.0, 2.0, 0.05) * full).sum() / (
        12.0 + torch.finfo(torch.float32).eps)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=0)
    actual.backward()
    expected.backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-9, atol=1e-15)
    assert torch.all(x1.grad[:, 2] == 0)


@pytest.mark.parametrize('class_weight,error,match', [
    ([1.0, -1.0], ValueError, r'class_weight\[1\] must be a finite number >= 0, got -1.0'),
    ([float('nan')], ValueError, r'class_weight\[0\].*got nan'),
    (['1.0'], TypeError, r"class_weight\[0\] must be a real number, got '1.0'"),
    ('1, 2', TypeError, 'class_weight must be None or a list / tuple'),
])
def test_class_weight_errors_at_construction(class_weight, error, match):
    with pytest.raises(error, match=match):
        ASLoss(class_weight=class_weight)


def test_class_weight_of_the_wrong_length_fails_at_forward():
    loss = ASLoss(class_weight=[1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match=r'class_weight must hold one weight per class: got 4 '
                       r'weights for pred of shape \(5, 3\) \(C = 3\)'):
        loss(torch.randn(5, 3), torch.zeros(5, dtype=torch.long))

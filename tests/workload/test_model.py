import torch

from mlperf_maskrcnn import recipe as recipes
from mlperf_maskrcnn.model import BatchCandidatesRPN, build_model


def test_model_matches_reference_configuration():
    model = build_model(recipes.load("nvidia_dgx1"))
    body = model.backbone.body
    # MSRA: the stride sits in the first 1x1 conv of each downsampling block.
    for layer in (body.layer2, body.layer3, body.layer4):
        assert layer[0].conv1.stride == (2, 2) and layer[0].conv2.stride == (1, 1)
    assert body.bn1.eps == 0.0 and body.layer3[2].bn2.eps == 0.0
    # Stem and res2 frozen, res3..res5 train.
    assert not any(p.requires_grad for p in body.conv1.parameters())
    assert not any(p.requires_grad for p in body.layer1.parameters())
    assert all(p.requires_grad for p in body.layer2.parameters())
    assert model.transform.image_mean == [102.9801, 115.9465, 122.7717] and model.transform.image_std == [1, 1, 1]
    assert model.transform.size_divisible == 32
    assert isinstance(model.rpn, BatchCandidatesRPN) and model.rpn.batch_candidates == 6000
    assert model.roi_heads.box_roi_pool.sampling_ratio == 2 and tuple(model.roi_heads.mask_roi_pool.output_size) == (
        14,
        14,
    )
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == 512
    assert model.roi_heads.box_coder.weights == (10.0, 10.0, 5.0, 5.0)


def test_rpn_keeps_candidates_over_the_whole_batch():
    model = build_model(recipes.load("smoke"))
    rpn = model.rpn
    rpn.train()
    rpn.batch_candidates = 50
    proposals = torch.rand(2, 400, 4) * 50
    proposals[..., 2:] += proposals[..., :2] + 5
    objectness = torch.randn(2 * 400, 1)
    boxes, scores = rpn.filter_proposals(proposals, objectness, [(128, 128), (128, 128)], [400])
    assert sum(len(b) for b in boxes) == 50
    kept = torch.cat(scores)
    everything = torch.cat(
        BatchCandidatesRPN.__mro__[1].filter_proposals(rpn, proposals, objectness, [(128, 128)] * 2, [400])[1]
    )
    assert torch.equal(torch.sort(kept, descending=True).values, torch.sort(everything, descending=True).values[:50])
    rpn.eval()
    boxes, _ = rpn.filter_proposals(proposals, objectness, [(128, 128), (128, 128)], [400])
    assert all(len(b) <= 100 for b in boxes)  # at test time: per image (smoke: 100)


def test_transform_resizes_only_at_test_time():
    model = build_model(recipes.load("smoke"))
    image = torch.rand(3, 100, 150) * 255
    model.transform.train()
    batched, _ = model.transform(
        [image],
        [
            {
                "boxes": torch.tensor([[1.0, 1, 20, 20]]),
                "labels": torch.tensor([1]),
                "masks": torch.zeros(1, 100, 150, dtype=torch.uint8),
            }
        ],
    )
    assert batched.image_sizes == [(100, 150)] and batched.tensors.shape[-2:] == (128, 160)
    model.transform.eval()
    batched, _ = model.transform([image])
    assert min(batched.image_sizes[0]) == 128

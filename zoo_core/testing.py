"""Checks that any zoo model must pass, usable from any plugin's tests, and the conformance kit.

Each ``check_*`` raises ``AssertionError`` with a message naming the property that failed.
They work on tiny event shapes, where the whole discrete space can be enumerated.

The kit runs every check on a registered architecture built tiny: :func:`check_architecture`
(all of them, raising at the first failure), :func:`run_check` (one, by its name in
:data:`CHECKS`), :func:`parametrize_with_checks` (a pytest test per architecture and check)
and ``zoo check ARCH`` on the command line.

Autoregressive models declare ``autoregressive = True`` and expose
``conditional_log_probs(x[, y]) -> (B, C, H, W, num_levels)``: the natural-log
distribution of each sub-pixel given every sub-pixel before it in raster order
(rows top to bottom, columns left to right, channels in order inside a pixel).
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path
from typing import Callable

import torch

__all__ = [
    "all_images",
    "check_normalised",
    "check_causal",
    "check_sampler_matches_log_prob",
    "check_sampler_agrees",
    "CHECKS",
    "checks_for",
    "run_check",
    "check_architecture",
    "parametrize_with_checks",
    "tiny",
]


def all_images(event_shape, num_levels: int) -> torch.Tensor:
    """Every image of ``event_shape`` with ``num_levels`` levels: (num_levels**D, C, H, W) long."""
    d = math.prod(event_shape)
    if num_levels**d > 1 << 16:
        raise ValueError(f"{num_levels}**{d} images is too many to enumerate; use a smaller event shape")
    grids = torch.cartesian_prod(*[torch.arange(num_levels)] * d) if d > 1 else torch.arange(num_levels)[:, None]
    return grids.reshape(-1, *event_shape).long()


def _log_probs(model, x, y=None):
    with torch.no_grad():
        return model.log_prob(x) if y is None else model.log_prob(x, y)


def check_normalised(model, *, atol: float = 1e-4) -> None:
    """Probabilities over the whole discrete space sum to one (per class for conditionals)."""
    x = all_images(model.event_shape, model.num_levels)
    if hasattr(model, "predict_log_proba"):
        with torch.no_grad():
            total = model.predict_log_proba(x).double().exp().sum(-1)
        assert torch.allclose(total, torch.ones_like(total), atol=atol), (
            f"p(y|x) does not sum to one over classes: sums range over [{total.min():.6f}, {total.max():.6f}]")
        return
    labels = [None] if not hasattr(model, "num_classes") else list(range(model.num_classes))
    for label in labels:
        y = None if label is None else torch.full((len(x),), label, dtype=torch.long)
        total = torch.logsumexp(_log_probs(model, x, y).double(), 0).exp().item()
        where = "" if label is None else f" for class {label}"
        assert abs(total - 1.0) < atol, f"probabilities over all {len(x)} images sum to {total:.6f}{where}, not 1"


def check_causal(model, *, y=None, generator: torch.Generator | None = None) -> None:
    """Changing a sub-pixel changes no conditional at or before it in raster order."""
    c, h, w = model.event_shape
    g = generator or torch.Generator().manual_seed(0)
    x = torch.randint(model.num_levels, (2, c, h, w), generator=g)
    args = () if y is None else (y[:2],)

    def flat(t):  # (B, C, H, W, L) -> (B, H*W*C, L) in raster order, channels innermost
        return t.permute(0, 2, 3, 1, 4).reshape(t.shape[0], h * w * c, -1)

    with torch.no_grad():
        base = flat(model.conditional_log_probs(x, *args))
        for k in range(h * w * c):
            i, j, ch = k // (w * c), (k // c) % w, k % c
            x2 = x.clone()
            x2[:, ch, i, j] = (x2[:, ch, i, j] + 1) % model.num_levels
            moved = flat(model.conditional_log_probs(x2, *args))
            changed = (moved[:, : k + 1] - base[:, : k + 1]).abs().amax(dim=(0, 2))
            bad = torch.nonzero(changed > 1e-5).flatten()
            assert len(bad) == 0, (
                f"changing sub-pixel (c={ch}, h={i}, w={j}) changed the conditional of sub-pixel "
                f"{int(bad[0])} in raster order, which comes before it or is it: the model sees the future")


def check_sampler_matches_log_prob(model, *, n: int = 4000, y: int | None = None, seed: int = 0) -> None:
    """Sample frequencies over a tiny space agree with exp(log_prob) (total variation test)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if y is None:
            s = model.sample(n, generator=g)
        else:
            s = model.sample(torch.full((n,), y, dtype=torch.long), generator=g)
    assert s.dtype == torch.long and tuple(s.shape) == (n, *model.event_shape), (
        f"sample returned {s.dtype} {tuple(s.shape)}, expected torch.int64 {(n, *model.event_shape)}")
    x = all_images(model.event_shape, model.num_levels)
    labels = None if y is None else torch.full((len(x),), y, dtype=torch.long)
    p = _log_probs(model, x, labels).double().exp()
    d = math.prod(model.event_shape)
    index = torch.zeros(n, dtype=torch.long)
    for v in s.reshape(n, d).unbind(1):
        index = index * model.num_levels + v
    freq = torch.bincount(index, minlength=len(x)).double() / n
    tv = 0.5 * (freq - p).abs().sum().item()
    # expected TV of n exact draws is about 0.5 * sum sqrt(2 p (1-p) / (pi n)); allow 4x plus slack
    bound = 4 * 0.5 * torch.sqrt(2 * p * (1 - p) / (math.pi * n)).sum().item() + 0.01
    assert tv < bound, f"samples disagree with log_prob: total variation {tv:.4f} exceeds {bound:.4f} ({n} samples)"


# --------------------------------------------------------------------------------------------
# The conformance kit: every check a model of a registered architecture must pass.
# --------------------------------------------------------------------------------------------

#: The tiny configurations the kit builds: grey (1, 2, 3) with 3 levels (729 images) and, where
#: the architecture supports colour, RGB (3, 1, 2) with 2 levels (64 images); 2 classes.
GREY = ((1, 2, 3), 3)
RGB = ((3, 1, 2), 2)
NUM_CLASSES = 2


class NotApplicable(Exception):
    """A check that does not apply to this architecture (not autoregressive, no RGB, ...)."""


def tiny(name: str, event_shape=GREY[0], num_levels: int = GREY[1], *, seed: int = 0, **config):
    """The kit's model of ``name``: ``zoo.build`` with the tiny event (+ 2 classes), seeded, in eval mode.

    The global random state is restored afterwards, so the kit disturbs nothing.
    """
    from zoo_core import checkpoint, registry

    if registry.architecture(name).task != "density":
        config.setdefault("num_classes", NUM_CLASSES)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = checkpoint.build(name, event_shape=tuple(event_shape), num_levels=num_levels, **config)
    return model.eval() if hasattr(model, "eval") else model


def _tiny_rgb(name: str):
    try:
        return tiny(name, *RGB)
    except (ValueError, NotImplementedError) as error:  # InvalidInput is a ValueError
        raise NotApplicable(f"{name} does not build for RGB {RGB[0]} with {RGB[1]} levels "
                            f"({type(error).__name__}: {error})") from None


def _task(name: str) -> str:
    from zoo_core import registry

    return registry.architecture(name).task


def _images(model, n: int = 5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(model.num_levels, (n, *model.event_shape), generator=g)


def _labels(model, n: int) -> torch.Tensor | None:
    return torch.arange(n) % model.num_classes if hasattr(model, "num_classes") else None


def _device(model) -> torch.device:
    tensor = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return torch.device("cpu") if tensor is None else tensor.device


def _score(model, x, y=None) -> torch.Tensor:
    """What the model computes of images: log p(x), log p(x|y) or log p(y|x), no gradients."""
    with torch.no_grad():
        if hasattr(model, "predict_log_proba"):
            return model.predict_log_proba(x)
        return model.log_prob(x) if y is None else model.log_prob(x, y)


def _draw(model, n: int, generator=None) -> torch.Tensor:
    with torch.no_grad():
        y = _labels(model, n)
        if y is None:
            return model.sample(n, generator=generator)
        return model.sample(y.to(_device(model)), generator=generator)


def _check_sample(model, s, n: int) -> None:
    assert isinstance(s, torch.Tensor) and s.dtype == torch.long and tuple(s.shape) == (n, *model.event_shape), (
        f"sample returned {type(s).__name__} {getattr(s, 'dtype', '')} {tuple(getattr(s, 'shape', ()))}, "
        f"expected a torch.int64 tensor of shape {(n, *model.event_shape)}")
    if s.numel():
        assert 0 <= int(s.min()) and int(s.max()) < model.num_levels, (
            f"sample returned levels in [{int(s.min())}, {int(s.max())}], outside [0, {model.num_levels})")


def _protocol(name: str) -> None:
    from zoo_core.protocols import Classifier, ConditionalModel, DensityModel

    task = _task(name)
    model = tiny(name)
    protocol = {"density": DensityModel, "conditional": ConditionalModel, "classifier": Classifier}[task]
    assert isinstance(model, protocol), (
        f"a {task} architecture built a {type(model).__name__} without the members of {protocol.__name__}")
    assert isinstance(model, torch.nn.Module), (
        f"built a {type(model).__name__}, not a torch.nn.Module: zoo.save and zoo.load need state_dict() and .to()")
    assert isinstance(model.event_shape, tuple) and model.event_shape == GREY[0], (
        f"event_shape is {model.event_shape!r}, expected the tuple {GREY[0]} it was built with")
    assert isinstance(model.num_levels, int) and model.num_levels == GREY[1], (
        f"num_levels is {model.num_levels!r}, expected {GREY[1]}")
    if task == "density":
        # zoo tells a conditional model by num_classes and a classifier by predict_log_proba
        assert not hasattr(model, "num_classes"), "a density model must not have num_classes (zoo takes it for p(x|y))"
    else:
        assert model.num_classes == NUM_CLASSES, f"num_classes is {model.num_classes!r}, built with {NUM_CLASSES}"
        names = list(model.class_names)
        assert len(names) == NUM_CLASSES and all(isinstance(n, str) for n in names), (
            f"class_names is {model.class_names!r}, expected {NUM_CLASSES} strings")
        named = tiny(name, class_names=["cat", "dog"])
        assert list(named.class_names) == ["cat", "dog"], (
            f"built with class_names=['cat', 'dog'], the model has {named.class_names!r}")
    if task != "classifier":
        assert not hasattr(model, "predict_log_proba"), (
            f"a {task} model must not have predict_log_proba (zoo takes it for a classifier)")
    if getattr(model, "autoregressive", False):
        assert callable(getattr(model, "conditional_log_probs", None)), (
            "autoregressive = True but there is no conditional_log_probs(x[, y]) method")


def _shapes(name: str) -> None:
    model = tiny(name)
    x = _images(model)
    y = _labels(model, len(x))
    out = _score(model, x, y)
    if hasattr(model, "predict_log_proba"):
        shape, what = (len(x), model.num_classes), "predict_log_proba"
    else:
        shape, what = (len(x),), "log_prob"
    assert isinstance(out, torch.Tensor) and out.is_floating_point() and tuple(out.shape) == shape, (
        f"{what} returned {getattr(out, 'dtype', type(out).__name__)} of shape {tuple(getattr(out, 'shape', ()))}, "
        f"expected a floating tensor of shape {shape}")
    assert torch.isfinite(out).all(), f"{what} of valid images is not finite: {out.tolist()}"
    assert (out <= 1e-5).all(), f"{what} is a natural-log probability, so at most 0; got {out.max().item():.6f}"
    assert torch.allclose(_score(model, x.to(torch.uint8), y), out, atol=1e-6, rtol=1e-6), (
        f"{what} of uint8 images differs from that of the same images as long")
    one_by_one = torch.cat([_score(model, x[i:i + 1], None if y is None else y[i:i + 1]) for i in range(len(x))])
    assert torch.allclose(one_by_one, out, atol=1e-5, rtol=1e-5), (
        f"{what} of a batch differs from {what} of its images one at a time: images in a batch influence each other")
    if hasattr(model, "predict_log_proba"):
        with torch.no_grad():
            predicted = model.predict(x)
        ok = isinstance(predicted, torch.Tensor) and predicted.dtype == torch.long
        assert ok and tuple(predicted.shape) == (len(x),), (
            f"predict returned {getattr(predicted, 'dtype', type(predicted).__name__)} "
            f"{tuple(getattr(predicted, 'shape', ()))}, expected torch.int64 ({len(x)},)")
        assert torch.equal(predicted, out.argmax(-1)), "predict is not the argmax of predict_log_proba"
        return
    _check_sample(model, _draw(model, 3), 3)
    if getattr(model, "autoregressive", False):
        levels = model.num_levels
        with torch.no_grad():
            conditionals = model.conditional_log_probs(x, *(() if y is None else (y,)))
        expected = (len(x), *model.event_shape, levels)
        assert tuple(conditionals.shape) == expected, (
            f"conditional_log_probs returned shape {tuple(conditionals.shape)}, expected {expected}")
        sums = conditionals.double().exp().sum(-1)
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-4), (
            "conditional_log_probs: a sub-pixel's distribution over levels does not sum to one")
        gathered = conditionals.gather(-1, x.long().unsqueeze(-1)).sum(dim=(1, 2, 3, 4))
        assert torch.allclose(gathered, out, atol=1e-4, rtol=1e-5), (
            "log_prob is not the sum of the gathered conditional_log_probs")


def _bad_images(model) -> dict[str, object]:
    c, h, w = model.event_shape
    good = torch.zeros(2, c, h, w, dtype=torch.long)
    return {
        "float images": good.float(),
        "bool images": good.bool(),
        f"shape {(2, c, w + 1, h)}": torch.zeros(2, c, w + 1, h, dtype=torch.long),
        "no batch dimension": good[0],
        f"a level of {model.num_levels}": torch.full_like(good, model.num_levels),
        "a level of -1": torch.full_like(good, -1),
        "a nested list": good.tolist(),
    }


def _bad_labels(model, n: int) -> dict[str, object]:
    return {
        "float labels": torch.zeros(n),
        f"label {model.num_classes}": torch.full((n,), model.num_classes),
        "label -1": torch.full((n,), -1),
        "labels of shape (n, 1)": torch.zeros(n, 1, dtype=torch.long),
        "a list of labels": [0] * n,
    }


def _expect_invalid(call, what: str) -> None:
    from zoo_core.errors import InvalidInput

    try:
        with torch.no_grad():
            call()
    except InvalidInput:
        return
    except Exception as error:
        raise AssertionError(
            f"{what} raised {type(error).__name__} ({error}), expected zoo_core.InvalidInput") from None
    raise AssertionError(f"{what} returned without raising InvalidInput")


def _invalid_input(name: str) -> None:
    model = tiny(name)
    y = _labels(model, 2)
    methods = ["predict_log_proba", "predict"] if hasattr(model, "predict_log_proba") else ["log_prob"]
    if getattr(model, "autoregressive", False):
        methods.append("conditional_log_probs")
    for method in methods:
        args = () if y is None or method in ("predict_log_proba", "predict") else (y,)
        for what, x in _bad_images(model).items():
            _expect_invalid(lambda: getattr(model, method)(x, *args), f"{method} with {what}")
    if y is None:
        return
    good = torch.zeros(2, *model.event_shape, dtype=torch.long)
    if not hasattr(model, "predict_log_proba"):
        bad = {**_bad_labels(model, 2), "3 labels for 2 images": torch.zeros(3, dtype=torch.long)}
        for method in methods:
            for what, labels in bad.items():
                _expect_invalid(lambda: getattr(model, method)(good, labels), f"{method} with {what}")
        for what, labels in _bad_labels(model, 2).items():
            _expect_invalid(lambda: model.sample(labels), f"sample with {what}")


def _normalised(model_of) -> Callable[[str], None]:
    def check(name: str) -> None:
        check_normalised(model_of(name))
    return check


def _sampler(model_of) -> Callable[[str], None]:
    def check(name: str) -> None:
        check_sampler_agrees(model_of(name))
    return check


def check_sampler_agrees(model, *, n: int = 2000, seed: int = 0) -> None:
    """``sample`` draws from exp(``log_prob``): for a conditional model, labels cycle over every class.

    Two tests on the enumerated tiny space, against exp(``log_prob``) normalised over it
    (whether it sums to one is :func:`check_normalised`'s question): the total variation
    between sample frequencies and the probabilities (as in
    :func:`check_sampler_matches_log_prob`), and the mean log-probability of the draws
    against its exact expectation, -entropy, within five standard errors (this one also
    catches a sampler at the wrong temperature).
    """
    g = torch.Generator().manual_seed(seed)
    s = _draw(model, n, g)
    _check_sample(model, s, n)
    x = all_images(model.event_shape, model.num_levels)
    classes = [None] if not hasattr(model, "num_classes") else list(range(model.num_classes))
    logp = torch.stack([
        _score(model, x, None if k is None else torch.full((len(x),), k, dtype=torch.long)).double().cpu()
        for k in classes
    ])  # (classes, images)
    # against the distribution log_prob defines; whether it sums to one is check_normalised's question
    logp = logp - torch.logsumexp(logp, 1, keepdim=True)
    d = math.prod(model.event_shape)
    index = torch.zeros(n, dtype=torch.long)
    for v in s.cpu().reshape(n, d).unbind(1):
        index = index * model.num_levels + v
    y = _labels(model, n)
    label = torch.zeros(n, dtype=torch.long) if y is None else y
    drawn = logp[label, index]
    assert torch.isfinite(drawn).all(), "sample drew an image that log_prob gives probability zero"
    p = logp.exp() / len(classes)  # joint over (class, image), classes balanced by construction
    freq = torch.bincount(label * len(x) + index, minlength=p.numel()).double() / n
    tv = 0.5 * (freq - p.flatten()).abs().sum().item()
    bound = 4 * 0.5 * torch.sqrt(2 * p * (1 - p) / (math.pi * n)).sum().item() + 0.01
    assert tv < bound, f"samples disagree with log_prob: total variation {tv:.4f} exceeds {bound:.4f} ({n} samples)"
    q = logp.exp()
    plogp = torch.where(q > 0, q * logp, torch.zeros_like(q))
    mean = plogp.sum(1)  # E[log p] per class
    var = (torch.where(q > 0, q * logp**2, torch.zeros_like(q)).sum(1) - mean**2).clamp(min=0)
    expected, error = mean.mean().item(), math.sqrt(var.mean().item() / n)
    observed = drawn.mean().item()
    assert abs(observed - expected) <= 5 * error + 1e-6, (
        f"samples disagree with log_prob: their mean log-probability is {observed:.4f}, the distribution's is "
        f"{expected:.4f} ± {error:.4f}: the draws are {'more' if observed > expected else 'less'} likely than draws "
        f"from it (a wrong temperature, or a label ignored?)")


def _causal(model_of) -> Callable[[str], None]:
    def check(name: str) -> None:
        model = model_of(name)
        if not getattr(model, "autoregressive", False):
            raise NotApplicable(f"{name} does not declare autoregressive = True")
        model = copy.deepcopy(model).double()  # so that round-off cannot pass for a dependence
        check_causal(model, y=_labels(model, 2))
    return check


def _reproducible(name: str) -> None:
    model = tiny(name)

    def draw(seed, global_seed):
        torch.manual_seed(global_seed)
        return _draw(model, 16, torch.Generator().manual_seed(seed))

    with torch.random.fork_rng(devices=[]):
        first, second = draw(7, global_seed=1), draw(7, global_seed=2)
        other = draw(8, global_seed=1)
        plain = _draw(model, 4)
    assert torch.equal(first, second), (
        "two draws with generators seeded alike differ: sample must take all its randomness from `generator`")
    assert not torch.equal(first, other), (
        "draws with differently seeded generators are identical: sample ignores `generator`")
    _check_sample(model, plain, 4)


def _save_load(name: str) -> None:
    from zoo_core import checkpoint

    model = tiny(name)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # weights unlike a fresh build's, so that a load that drops them shows
        for p in model.parameters():
            if p.is_floating_point():
                p.add_(0.01 * torch.randn(p.shape, generator=g).to(p.dtype))
    with tempfile.TemporaryDirectory() as tmp:
        folder = checkpoint.save(model, Path(tmp) / "checkpoint", name="conformance")
        loaded = checkpoint.load(str(folder))
    assert type(loaded) is type(model), (
        f"zoo.load built a {type(loaded).__name__}, zoo.save was given a {type(model).__name__}")
    assert loaded.zoo_architecture == name and not loaded.training, (
        "zoo.load did not return the architecture in eval mode")
    saved, back = model.state_dict(), loaded.state_dict()
    assert saved.keys() == back.keys(), (
        f"state_dict keys differ after zoo.load: {sorted(saved.keys() ^ back.keys())[:5]}")
    for key in saved:
        assert torch.equal(saved[key], back[key]), f"{key} differs after zoo.save and zoo.load"
    x = _images(model)
    y = _labels(model, len(x))
    assert torch.equal(_score(loaded, x, y), _score(model, x, y)), (
        "the loaded model computes other values than the saved one")


def _dtype_device(name: str) -> None:
    model = tiny(name)
    x = _images(model)
    y = _labels(model, len(x))
    reference = _score(model, x, y)
    wide = copy.deepcopy(model).to(torch.float64)
    floating = [t for t in wide.state_dict().values() if t.is_floating_point()]
    assert all(t.dtype == torch.float64 for t in floating), (
        ".to(torch.float64) left some floating tensors in another dtype")
    out = _score(wide, x, y)
    assert out.dtype == torch.float64, f"after .to(torch.float64) the model returns {out.dtype}, expected torch.float64"
    assert torch.allclose(out, reference.double(), atol=1e-4, rtol=1e-4), (
        f"after .to(torch.float64) the values moved by {(out - reference.double()).abs().max().item():.2e}")
    if not hasattr(model, "predict_log_proba"):
        _check_sample(wide, _draw(wide, 3, torch.Generator().manual_seed(0)), 3)
    moved = copy.deepcopy(model).to("cpu")
    assert torch.equal(_score(moved, x, y), reference), ".to('cpu') changed what the model computes"
    if torch.cuda.is_available():
        cuda = copy.deepcopy(model).to("cuda")
        out = _score(cuda, x.cuda(), None if y is None else y.cuda())
        assert out.device.type == "cuda", f"a model on cuda returned its result on {out.device}"
        assert torch.allclose(out.cpu(), reference, atol=1e-4, rtol=1e-4), "on cuda the model computes other values"
        if not hasattr(model, "predict_log_proba"):
            # a CPU generator with a CUDA model: drawn on the generator's device and moved
            _check_sample(cuda, _draw(cuda, 3, torch.Generator().manual_seed(0)), 3)
            _check_sample(cuda, _draw(cuda, 3, torch.Generator(device="cuda").manual_seed(0)), 3)


#: Every check of the kit by name, in the order it runs, with the tasks it applies to.
CHECKS: dict[str, tuple[Callable[[str], None], tuple[str, ...]]] = {
    "protocol": (_protocol, ("density", "conditional", "classifier")),
    "shapes": (_shapes, ("density", "conditional", "classifier")),
    "invalid-input": (_invalid_input, ("density", "conditional", "classifier")),
    "normalised-grey": (_normalised(tiny), ("density", "conditional", "classifier")),
    "normalised-rgb": (_normalised(_tiny_rgb), ("density", "conditional", "classifier")),
    "sampler-grey": (_sampler(tiny), ("density", "conditional")),
    "sampler-rgb": (_sampler(_tiny_rgb), ("density", "conditional")),
    "causal-grey": (_causal(tiny), ("density", "conditional")),
    "causal-rgb": (_causal(_tiny_rgb), ("density", "conditional")),
    "reproducible": (_reproducible, ("density", "conditional")),
    "save-load": (_save_load, ("density", "conditional", "classifier")),
    "dtype-device": (_dtype_device, ("density", "conditional", "classifier")),
}


def checks_for(name: str) -> list[str]:
    """The names of the checks that apply to architecture ``name``'s task, in order."""
    task = _task(name)
    return [check for check, (_, tasks) in CHECKS.items() if task in tasks]


def run_check(name: str, check: str) -> str | None:
    """Run one check of the kit on architecture ``name``.

    Returns:
        None when it passed, or the reason it does not apply (not autoregressive, no RGB).

    Raises:
        AssertionError: one line, ``"<name>: <check>: <what is wrong>"``; an exception from the
            model is reported the same way, with its type.
        PluginNotInstalled, UnknownModel: ``name`` is not an installed architecture.
    """
    if check not in CHECKS:
        raise ValueError(f"unknown check {check!r}; the kit has {', '.join(CHECKS)}")
    _task(name)  # an architecture that is not installed is not a failed check
    threads = torch.get_num_threads()
    # tiny tensors gain nothing from threads, and on a busy machine waiting for them costs 10-50x
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            CHECKS[check][0](name)
    except NotApplicable as reason:
        return str(reason)
    except AssertionError as error:
        raise AssertionError(f"{name}: {check}: {_one_line(error)}") from error
    except Exception as error:
        raise AssertionError(f"{name}: {check}: raised {type(error).__name__}: {_one_line(error)}") from error
    finally:
        torch.set_num_threads(threads)
    return None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def check_architecture(name: str) -> dict[str, str | None]:
    """Build architecture ``name`` tiny and run every check of the kit that applies to it.

    The checks: protocol members; shapes and dtypes; bad input raises ``InvalidInput``; exact
    normalisation by enumeration; sampler agreement with ``log_prob``; causality for models
    that declare ``autoregressive = True``; reproducible sampling with a generator; a
    ``zoo.save``/``zoo.load`` round trip; ``.to(torch.float64)`` and device moves. Grey
    images (1, 2, 3) with 3 levels, and RGB (3, 1, 2) with 2 levels where it builds.

    Returns:
        Each check's outcome: None for passed, else why it did not apply.

    Raises:
        AssertionError: at the first failed check, naming the architecture and the check.
    """
    return {check: run_check(name, check) for check in checks_for(name)}


class _Check:
    """One check as a pytest parameter: ``check(architecture)`` runs it, skipping when it does not apply."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, architecture: str) -> None:
        reason = run_check(architecture, self.name)
        if reason is not None:
            import pytest

            pytest.skip(reason)

    def __repr__(self) -> str:
        return self.name


def parametrize_with_checks(names):
    """A pytest decorator running the kit: one test per architecture and check.

    Test ids are ``"<architecture>:<check>"`` (e.g. ``"pixelcnn/gated:causal-rgb"``), so
    ``pytest -k "pixelcnn/gated:causal-rgb"`` selects one::

        from zoo_core.testing import parametrize_with_checks

        @parametrize_with_checks(["myplugin/model"])
        def test_conformance(architecture, check):
            check(architecture)
    """
    import pytest

    params = [pytest.param(name, _Check(check), id=f"{name}:{check}") for name in names for check in checks_for(name)]
    return pytest.mark.parametrize(("architecture", "check"), params)

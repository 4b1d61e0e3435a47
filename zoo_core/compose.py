"""Bayes' rule as glue: conditional models from parts, generative classifiers, rejection.

    log p(x|y) = log p(y|x) + log p(x) - log p(y)             bayes(classifier, density)
    log p(y|x) = log p(x|y) + log p(y) - logsumexp_y' (...)   generative_classifier(conditional)
    log p(x)   = logsumexp_y (log p(x|y) + log p(y))           marginal(conditional)

and a classifier that rejects inputs unlike its training data, by thresholding log p(x) or a
corrected score (a likelihood ratio, or log p(x) plus the input's complexity): with_rejection.

Everything here works on any objects with the protocol members (zoo_core.protocols), not
only on zoo's own models. Natural logs throughout.
"""

from __future__ import annotations

import math
import zlib

import torch

from zoo_core.errors import InvalidInput, ZooError
from zoo_core.validate import check_images, check_labels

__all__ = ["bayes", "generative_classifier", "marginal", "with_rejection", "zlib_code_length", "SCORES"]


def _same_space(a, b, what: str) -> None:
    if tuple(a.event_shape) != tuple(b.event_shape) or a.num_levels != b.num_levels:
        raise InvalidInput(f"{what}: the parts model different spaces: {tuple(a.event_shape)} x {a.num_levels} "
                           f"levels and {tuple(b.event_shape)} x {b.num_levels} levels")


def _prior_tensor(prior, num_classes: int, source=None) -> torch.Tensor:
    """p(y) from "uniform", "data" (the ``label_counts`` of ``source``) or a tensor."""
    if isinstance(prior, str) and prior == "uniform":
        return torch.full((num_classes,), 1.0 / num_classes, dtype=torch.float64)
    if isinstance(prior, str) and prior == "data":
        counts = getattr(source, "label_counts", None)
        if counts is None or float(torch.as_tensor(counts).sum()) <= 0:
            raise ZooError('prior="data" needs the training label counts (label_counts) that `zoo train` records '
                           'in a classifier; this model has none: pass prior="uniform" or a tensor')
        counts = torch.as_tensor(counts, dtype=torch.float64).cpu()
        return counts / counts.sum()
    if isinstance(prior, str):
        raise InvalidInput(f'prior must be "implied", "uniform", "data" or a tensor of p(y); got "{prior}"')
    p = torch.as_tensor(prior, dtype=torch.float64).cpu()
    if p.shape != (num_classes,) or bool((p < 0).any()) or abs(float(p.sum()) - 1) > 1e-6:
        raise InvalidInput(f"a prior tensor must have shape ({num_classes},), be non-negative and sum to 1; "
                           f"got shape {tuple(p.shape)} summing to {float(p.sum()):.6g}")
    return p


def _on_cpu(generator: torch.Generator | None) -> torch.Generator | None:
    """The generator for draws made here on the CPU (a CUDA generator cannot serve them)."""
    return generator if generator is None or generator.device.type == "cpu" else None


def _device_of(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


class BayesConditional(torch.nn.Module):
    """p(x|y) = p(y|x) p(x) / p(y), a ConditionalModel built from a classifier and a density.

    Attributes:
        prior: the p(y) tensor it divides by (float64, on the CPU).
        prior_std_error: Monte Carlo standard error of each entry of an implied prior; zeros otherwise.
        last_sample_info: method ("rejection" or "rejection+sir"), acceptance rate and proposals
            of the latest ``sample`` call.
    """

    def __init__(self, classifier, density, *, prior="implied", prior_samples: int = 512,
                 generator: torch.Generator | None = None, max_proposals: int = 1000):
        super().__init__()
        _same_space(classifier, density, "bayes")
        self.classifier, self.density = classifier, density
        self.event_shape, self.num_levels = tuple(density.event_shape), density.num_levels
        self.num_classes, self.class_names = classifier.num_classes, list(classifier.class_names)
        self.max_proposals = max_proposals
        self.last_sample_info: dict = {}
        if isinstance(prior, str) and prior == "implied":
            self.prior_kind = f"implied ({prior_samples} samples)"
            with torch.no_grad():
                x = density.sample(prior_samples, generator=generator)
                p = classifier.predict_log_proba(x).double().exp().cpu()
            self.prior = p.mean(0)
            self.prior_std_error = p.std(0) / math.sqrt(prior_samples)
        else:
            self.prior_kind = prior if isinstance(prior, str) else "given"
            self.prior = _prior_tensor(prior, self.num_classes, classifier)
            self.prior_std_error = torch.zeros_like(self.prior)
        if bool((self.prior <= 0).any()):
            raise ZooError(f"the prior gives class {int(self.prior.argmin())} probability 0; p(x|y) is undefined")

    def extra_repr(self) -> str:
        pairs = ", ".join(f"{p:.4f}±{e:.4f}" for p, e in zip(self.prior.tolist(), self.prior_std_error.tolist()))
        return f"prior={self.prior_kind}: [{pairs}]"

    def log_prob(self, x, y):
        """log p(x|y) in nats, (B,): one classifier pass and one density pass for the batch."""
        x = check_images(x, self.event_shape, self.num_levels)
        y = check_labels(y, self.num_classes, len(x))
        log_py_x = self.classifier.predict_log_proba(x).gather(1, y[:, None].to(_device_of(self.classifier)))[:, 0]
        log_px = self.density.log_prob(x)
        log_py = self.prior.log().to(log_px.device, log_px.dtype)[y.to(log_px.device)]
        return log_py_x.to(log_px.device, log_px.dtype) + log_px - log_py

    def sample(self, y, *, generator: torch.Generator | None = None):
        """Exact draws from p(x|y) by rejection from p(x) with acceptance p(y|x).

        Each label gets independent proposals x ~ p(x), drawn in rounds sized by the observed
        acceptance rate; its first accepted proposal is its sample, which is exact. A label
        still unserved after ``max_proposals`` proposals falls back to sampling-importance-
        resampling over its proposals (approximate); ``last_sample_info`` says whether that
        happened, with the acceptance rate.
        """
        y = check_labels(y, self.num_classes).cpu()
        out = torch.zeros(len(y), *self.event_shape, dtype=torch.long)
        done = torch.zeros(len(y), dtype=torch.bool)
        pool: list[list[tuple[float, torch.Tensor]]] = [[] for _ in range(len(y))]  # for SIR
        proposals = accepted = 0
        per_label = 0
        while per_label < self.max_proposals and not bool(done.all()):
            todo = torch.nonzero(~done).flatten()
            rate = accepted / proposals if proposals else 1.0
            m = min(self.max_proposals - per_label, max(1, math.ceil(1.5 / max(rate, 1e-3))), 64)
            labels = y[todo].repeat_interleave(m)
            with torch.no_grad():
                x = self.density.sample(len(labels), generator=generator).cpu()
                p = self.classifier.predict_log_proba(x).double().exp().cpu()[torch.arange(len(labels)), labels]
            keep = (torch.rand(len(labels), generator=_on_cpu(generator), dtype=torch.float64) < p).reshape(-1, m)
            for row, index in enumerate(todo.tolist()):
                hits = torch.nonzero(keep[row]).flatten()
                if len(hits):
                    out[index] = x[row * m + hits[0]]
                    done[index] = True
                pool[index] += [(p[row * m + j].item(), x[row * m + j]) for j in range(m)] if not len(hits) else []
            proposals, accepted, per_label = proposals + len(labels), accepted + int(keep.sum()), per_label + m
        method = "rejection"
        for index in torch.nonzero(~done).flatten().tolist():
            weights = torch.tensor([w for w, _ in pool[index]], dtype=torch.float64)
            if float(weights.sum()) <= 0:
                raise ZooError(f"no proposal for label {int(y[index])} had p(y|x) > 0 in {self.max_proposals} tries")
            out[index] = pool[index][torch.multinomial(weights, 1, generator=_on_cpu(generator)).item()][1]
            method = "rejection+sir"
        self.last_sample_info = {"method": method, "acceptance_rate": accepted / max(proposals, 1),
                                 "proposals": proposals}
        return out


def bayes(classifier, density, *, prior="implied", prior_samples: int = 512,
          generator: torch.Generator | None = None) -> BayesConditional:
    """A ConditionalModel p(x|y) = p(y|x) p(x) / p(y) from a Classifier and a DensityModel.

    Args:
        prior: "implied" (p(y) = E over x~p(x) of p(y|x), estimated from ``prior_samples`` of the
            density's own samples: the only choice that makes sum_x p(x|y) = 1, up to the
            estimate's error), "uniform", "data" (the classifier's training label frequencies)
            or a tensor of p(y).
    """
    return BayesConditional(classifier, density, prior=prior, prior_samples=prior_samples, generator=generator)


class GenerativeClassifier(torch.nn.Module):
    """p(y|x) proportional to p(x|y) p(y), every class scored in one batched pass."""

    def __init__(self, conditional, prior="uniform"):
        super().__init__()
        self.conditional = conditional
        self.event_shape, self.num_levels = tuple(conditional.event_shape), conditional.num_levels
        self.num_classes, self.class_names = conditional.num_classes, list(conditional.class_names)
        self.prior = _prior_tensor(prior, self.num_classes, conditional)

    def joint_log_prob(self, x) -> torch.Tensor:
        """log p(x|y) + log p(y) for every class, (B, num_classes)."""
        x = check_images(x, self.event_shape, self.num_levels)
        k, b = self.num_classes, len(x)
        xs = x.repeat(k, *([1] * (x.dim() - 1)))
        ys = torch.arange(k).repeat_interleave(b)
        log_px_y = self.conditional.log_prob(xs, ys.to(x.device)).reshape(k, b).T
        return log_px_y + self.prior.log().to(log_px_y.device, log_px_y.dtype)

    def predict_log_proba(self, x):
        return torch.log_softmax(self.joint_log_prob(x), dim=1)

    def predict(self, x):
        return self.predict_log_proba(x).argmax(1)


def generative_classifier(conditional, *, prior="uniform") -> GenerativeClassifier:
    """A Classifier from a ConditionalModel: log p(y|x) = log p(x|y) + log p(y) - logsumexp."""
    return GenerativeClassifier(conditional, prior)


class Marginal(torch.nn.Module):
    """p(x) = sum_y p(x|y) p(y), a DensityModel."""

    def __init__(self, conditional, prior="uniform"):
        super().__init__()
        self.joint = GenerativeClassifier(conditional, prior)
        self.event_shape, self.num_levels = self.joint.event_shape, self.joint.num_levels

    def log_prob(self, x):
        return torch.logsumexp(self.joint.joint_log_prob(x), dim=1)

    def sample(self, n: int, *, generator: torch.Generator | None = None):
        y = torch.multinomial(self.joint.prior, n, replacement=True, generator=generator)
        return self.joint.conditional.sample(y, generator=generator)


def marginal(conditional, *, prior="uniform") -> Marginal:
    """A DensityModel from a ConditionalModel: log p(x) = logsumexp_y (log p(x|y) + log p(y))."""
    return Marginal(conditional, prior)


def zlib_code_length(x: torch.Tensor, num_levels: int) -> torch.Tensor:
    """Code length in bits of each image under zlib (DEFLATE, level 9), (B,) float64 on the CPU.

    The bytes compressed are the image's levels in PNG's order (rows, then columns, then the
    channels inside a pixel), one byte per sub-pixel when ``num_levels`` <= 256, else two
    (big-endian); no PNG filter, chunk or header. The count includes zlib's own 2-byte header
    and 4-byte checksum, a constant 48 bits that shifts every score alike.

    Raises:
        InvalidInput: bad images, or ``num_levels`` above 65536.
    """
    if num_levels > 1 << 16:
        raise InvalidInput(f"zlib_code_length stores levels in at most two bytes; got num_levels={num_levels}")
    x = check_images(x, tuple(x.shape[1:]) if isinstance(x, torch.Tensor) else (), num_levels).cpu()
    pixels = x.permute(0, 2, 3, 1).numpy().astype(">u1" if num_levels <= 256 else ">u2")
    return torch.tensor([8.0 * len(zlib.compress(image.tobytes(), 9)) for image in pixels], dtype=torch.float64)


#: The scores :func:`with_rejection` can threshold; each is in nats, higher meaning "more like the training data".
SCORES = ("likelihood", "ratio", "complexity")


class RejectingClassifier(torch.nn.Module):
    """A Classifier that answers -1 ("reject") where its score of x is below ``threshold`` (nats).

    The score (:meth:`score`) is one of :data:`SCORES`; see :func:`with_rejection`.
    """

    REJECT = -1

    def __init__(self, classifier, density, threshold: float, *, score: str = "likelihood", background=None,
                 code_length=None):
        super().__init__()
        _same_space(classifier, density, "with_rejection")
        if score not in SCORES:
            raise InvalidInput(f"score must be one of {', '.join(map(repr, SCORES))}; got {score!r}")
        if (score == "ratio") != (background is not None):
            raise InvalidInput('score="ratio" needs a background= DensityModel, and only it takes one' if background
                               is None else f'background= is used only by score="ratio", not score="{score}"')
        if code_length is not None and score != "complexity":
            raise InvalidInput(f'code_length= is used only by score="complexity", not score="{score}"')
        if background is not None:
            _same_space(density, background, "with_rejection (background)")
        if score == "complexity" and code_length is None and density.num_levels > 1 << 16:
            raise InvalidInput(f"the default code length (zlib) takes at most 65536 levels; the density has "
                               f"{density.num_levels}: pass code_length=")
        self.classifier, self.density, self.threshold = classifier, density, float(threshold)
        self.score_kind, self.background, self.code_length = score, background, code_length
        self.event_shape, self.num_levels = tuple(classifier.event_shape), classifier.num_levels
        self.num_classes, self.class_names = classifier.num_classes, list(classifier.class_names)

    def extra_repr(self) -> str:
        return f"score={self.score_kind}, threshold={self.threshold:.4g} nats"

    def score(self, x) -> torch.Tensor:
        """The score of each image in nats, (B,); higher means more like the training data.

        ``"likelihood"``: log p(x) (the density's own dtype). ``"ratio"``: log p(x) - log q(x)
        for the background q (float64). ``"complexity"``: log p(x) + L(x) ln 2 with L(x) the
        code length in bits (float64).
        """
        x = check_images(x, self.event_shape, self.num_levels)
        log_px = self.density.log_prob(x)
        if self.score_kind == "likelihood":
            return log_px
        if self.score_kind == "ratio":
            return log_px.double() - self.background.log_prob(x).double().to(log_px.device)
        bits = zlib_code_length(x, self.num_levels) if self.code_length is None else self.code_length(x)
        bits = torch.as_tensor(bits)
        if bits.shape != (len(x),):
            raise InvalidInput(f"code_length must return one length in bits per image, shape ({len(x)},); "
                               f"got shape {tuple(bits.shape)}")
        return log_px.double() + bits.to(log_px.device, torch.float64) * math.log(2)

    def predict_log_proba(self, x):
        return self.classifier.predict_log_proba(x)

    def accepts(self, x) -> torch.Tensor:
        """True where the score is >= threshold, (B,)."""
        return self.score(x) >= self.threshold

    def predict(self, x):
        labels = self.classifier.predict(x)
        return torch.where(self.accepts(x).to(labels.device), labels, torch.full_like(labels, self.REJECT))


def with_rejection(classifier, density, *, threshold: float | None = None, quantile: float | None = None,
                   data=None, batch_size: int = 256, score: str = "likelihood", background=None,
                   code_length=None) -> RejectingClassifier:
    """A Classifier that rejects inputs unlike the training data (label -1).

    Give either ``threshold`` (in nats, on the scale of ``score``) or ``quantile`` with
    calibration ``data`` (images of the training distribution): the threshold is then that
    quantile of their scores, so about that fraction of in-distribution inputs is rejected.

    Args:
        score: what is thresholded, in nats; higher means more like the training data.

            - ``"likelihood"``: log p(x) under ``density``.
            - ``"ratio"``: log p(x) - log q(x), q the ``background`` DensityModel: a likelihood
              ratio in the manner of Ren et al. [1], which cancels what the two models share.
              q should model only the low-level statistics that foreign inputs share with the
              training images (Ren et al. train it on perturbed inputs); a q that is itself a
              sharp model of the training images (a Gaussian mixture fitted to them, in
              docs/bayes-report.md) ranks foreign inputs higher, the opposite of what is wanted.
            - ``"complexity"``: log p(x) + L(x) ln 2, L(x) the code length of x in bits under a
              lossless compressor: -ln 2 times Serra et al.'s S(x) = -log2 p(x) - L(x) [2]. It is
              the ratio against the compressor's own distribution 2^-L(x).
        background: the DensityModel q for ``score="ratio"`` (only then).
        code_length: for ``score="complexity"`` (only then), a function from images
            (B, C, H, W) to their code lengths in bits (B,); default :func:`zlib_code_length`.

    Raises:
        InvalidInput: not exactly one of ``threshold`` and ``quantile``, a quantile outside
            [0, 1), no calibration data, an unknown score, ``background`` or ``code_length``
            with a score that does not use them, parts of different spaces, or a score that is
            NaN for some calibration image.

    References:
        [1] J. Ren et al., "Likelihood Ratios for Out-of-Distribution Detection", NeurIPS 2019.
        [2] J. Serra et al., "Input Complexity and Out-of-distribution Detection with
            Likelihood-based Generative Models", ICLR 2020.
    """
    if (threshold is None) == (quantile is None):
        raise InvalidInput("with_rejection needs exactly one of threshold= or quantile=")
    model = RejectingClassifier(classifier, density, math.nan if threshold is None else threshold, score=score,
                                background=background, code_length=code_length)
    if quantile is not None:
        if not 0 <= quantile < 1:
            raise InvalidInput(f"quantile must be in [0, 1); got {quantile}")
        if data is None:
            raise InvalidInput("quantile= needs calibration images: with_rejection(..., quantile=q, data=x)")
        x = check_images(data, density.event_shape, density.num_levels)
        with torch.no_grad():
            scores = torch.cat([model.score(chunk).double().cpu() for chunk in x.split(batch_size)])
        if bool(scores.isnan().any()):
            raise InvalidInput(f"the {score} score is NaN for {int(scores.isnan().sum())} calibration images; "
                               f"no threshold can be set from them")
        model.threshold = float(torch.quantile(scores, quantile))
    return model

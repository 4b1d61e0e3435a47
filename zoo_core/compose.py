"""Bayes' rule as glue: conditional models from parts, generative classifiers, rejection.

    log p(x|y) = log p(y|x) + log p(x) - log p(y)             bayes(classifier, density)
    log p(y|x) = log p(x|y) + log p(y) - logsumexp_y' (...)   generative_classifier(conditional)
    log p(x)   = logsumexp_y (log p(x|y) + log p(y))           marginal(conditional)

Everything here works on any objects with the protocol members (zoo_core.protocols), not
only on zoo's own models. Natural logs throughout.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from zoo_core.errors import InvalidInput, ZooError
from zoo_core.validate import check_images, check_labels

__all__ = ["bayes", "generative_classifier", "marginal", "with_rejection"]


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


class RejectingClassifier(torch.nn.Module):
    """A Classifier that answers -1 ("reject") where log p(x) is below ``threshold`` (nats)."""

    REJECT = -1

    def __init__(self, classifier, density, threshold: float):
        super().__init__()
        _same_space(classifier, density, "with_rejection")
        self.classifier, self.density, self.threshold = classifier, density, float(threshold)
        self.event_shape, self.num_levels = tuple(classifier.event_shape), classifier.num_levels
        self.num_classes, self.class_names = classifier.num_classes, list(classifier.class_names)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold:.4g} nats"

    def predict_log_proba(self, x):
        return self.classifier.predict_log_proba(x)

    def accepts(self, x) -> torch.Tensor:
        """True where log p(x) >= threshold, (B,)."""
        return self.density.log_prob(x) >= self.threshold

    def predict(self, x):
        labels = self.classifier.predict(x)
        return torch.where(self.accepts(x).to(labels.device), labels, torch.full_like(labels, self.REJECT))


def with_rejection(classifier, density, *, threshold: float | None = None, quantile: float | None = None,
                   data=None, batch_size: int = 256) -> RejectingClassifier:
    """A Classifier that rejects inputs the density finds unlikely (label -1).

    Give either ``threshold`` (log p(x) in nats) or ``quantile`` with calibration ``data``
    (images of the training distribution): the threshold is then that quantile of their
    log p(x), so about that fraction of in-distribution inputs is rejected.
    """
    if (threshold is None) == (quantile is None):
        raise InvalidInput("with_rejection needs exactly one of threshold= or quantile=")
    if quantile is not None:
        if not 0 <= quantile < 1:
            raise InvalidInput(f"quantile must be in [0, 1); got {quantile}")
        if data is None:
            raise InvalidInput("quantile= needs calibration images: with_rejection(..., quantile=q, data=x)")
        x = check_images(data, density.event_shape, density.num_levels)
        with torch.no_grad():
            scores = torch.cat([density.log_prob(chunk).double().cpu() for chunk in x.split(batch_size)])
        threshold = float(torch.quantile(scores, quantile))
    return RejectingClassifier(classifier, density, threshold)

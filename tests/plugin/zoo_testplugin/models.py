"""Independent per-sub-pixel categorical models: exact, tiny, and quick to check."""

import torch
from torch import nn

from zoo_core.validate import check_event, check_images, check_labels


class Categorical(nn.Module):
    """p(x) = prod over sub-pixels of softmax(logits)[x]; not autoregressive."""

    def __init__(self, event_shape=(1, 2, 3), num_levels=3):
        super().__init__()
        self.event_shape = check_event(event_shape, num_levels)
        self.num_levels = num_levels
        self.logits = nn.Parameter(torch.zeros(*self.event_shape, num_levels))

    def log_prob(self, x):
        x = check_images(x, self.event_shape, self.num_levels)
        logp = torch.log_softmax(self.logits, -1).expand(len(x), *self.logits.shape)
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).flatten(1).sum(1)

    def sample(self, n, *, generator=None):
        probs = torch.softmax(self.logits.detach(), -1).reshape(-1, self.num_levels)
        draws = torch.multinomial(probs, n, replacement=True, generator=generator)
        return draws.T.reshape(n, *self.event_shape).long()


class ConditionalCategorical(nn.Module):
    """p(x | y): one independent categorical per class."""

    def __init__(self, event_shape=(1, 2, 3), num_levels=3, num_classes=2, class_names=None):
        super().__init__()
        self.event_shape = check_event(event_shape, num_levels, num_classes)
        self.num_levels, self.num_classes = num_levels, num_classes
        self.class_names = list(class_names or [str(i) for i in range(num_classes)])
        self.logits = nn.Parameter(torch.randn(num_classes, *self.event_shape, num_levels) * 0.1)

    def log_prob(self, x, y):
        x = check_images(x, self.event_shape, self.num_levels)
        y = check_labels(y, self.num_classes, len(x))
        logp = torch.log_softmax(self.logits, -1)[y]
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).flatten(1).sum(1)

    def sample(self, y, *, generator=None):
        y = check_labels(y, self.num_classes)
        probs = torch.softmax(self.logits.detach(), -1)[y].reshape(-1, self.num_levels)
        draws = torch.multinomial(probs, 1, generator=generator)
        return draws.reshape(len(y), *self.event_shape).long()


class LinearClassifier(nn.Module):
    """p(y | x) = softmax(W one_hot(x) + b)."""

    def __init__(self, event_shape=(1, 2, 3), num_levels=3, num_classes=2, class_names=None):
        super().__init__()
        self.event_shape = check_event(event_shape, num_levels, num_classes)
        self.num_levels, self.num_classes = num_levels, num_classes
        self.class_names = list(class_names or [str(i) for i in range(num_classes)])
        d = self.event_shape[0] * self.event_shape[1] * self.event_shape[2]
        self.linear = nn.Linear(d * num_levels, num_classes)

    def predict_log_proba(self, x):
        x = check_images(x, self.event_shape, self.num_levels)
        features = nn.functional.one_hot(x.flatten(1), self.num_levels).flatten(1).float()
        return torch.log_softmax(self.linear(features.to(self.linear.weight.dtype)), -1)

    def predict(self, x):
        return self.predict_log_proba(x).argmax(-1)

"""``zoo new-plugin NAME``: write a third-party plugin package that installs, registers and passes the kit.

The package, ``zoo-NAME`` (import name ``zoo_NAME``), is what a plugin author would write from
the design alone: a ``pyproject.toml`` with the ``zoo`` entry point, a model module (an exact
density model, ``NAME/categorical``, with a one-pass ``fit`` so that ``zoo train`` takes
seconds), the hooks module that registers it and a registry entry, tests that run the
conformance kit (:mod:`zoo_core.testing`), and a README walking from install to publishing.
It passes its own tests as generated. The templates are the strings below; ``$name``,
``$package``, ``$dist`` and ``$title`` are filled in.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from zoo_core.errors import ZooError

__all__ = ["new_plugin", "files_for"]

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_TAKEN = ("pixelcnn", "pixelrnn", "gmm", "softmax", "testplugin")

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$title: a plugin for zoo, the zoo of probabilistic image models"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["zoo-core>=0.1", "torch>=2.2"]

[project.optional-dependencies]
test = ["pytest>=8"]

# zoo finds plugins through this entry-point group; the name is the prefix of every architecture
[project.entry-points.zoo]
$name = "$package.hooks"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

INIT = '''\
"""$title: a zoo plugin. The hooks live in ``$package.hooks``, the model in ``$package.model``."""
'''

HOOKS = '''\
"""Registers $dist's architecture and model with zoo; imports no torch, so `zoo list` stays fast."""

from zoo_core.hookspecs import hookimpl


def _categorical(**config):
    from $package.model import Categorical  # model code is imported when a model is built

    return Categorical(**config)


@hookimpl
def zoo_register_architectures(register):
    register("$name/categorical", _categorical, task="density")


@hookimpl
def zoo_register_models(register):
    # No weights yet: zoo.load("$name-digits", pretrained=False) builds it untrained. After
    # `zoo train` and `zoo publish`, replace this entry with the one `zoo publish` prints (it
    # pins the Hub commit and the sha256 of the files).
    register("$name-digits", {
        "architecture": "$name/categorical",
        "task": "density",
        "dataset": "digits",
        "config": {"event_shape": [1, 8, 8], "num_levels": 17},
    })
'''

MODEL = '''\
"""p(x) as independent categoricals, one per sub-pixel: the model `zoo new-plugin` starts $dist with.

Sub-pixel x_d of an image takes level l with probability softmax(logits_d)[l], independently
of the others, so log p(x) = sum over d of log softmax(logits_d)[x_d], in nats. It is exact
and normalised by construction and samples exactly. ``fit`` sets the maximum-likelihood
logits (counts plus ``smoothing``) in one pass over the data, so that
``zoo train $name/categorical --data digits --out DIR`` takes seconds.

Replace it with your model: keep the members of ``zoo_core.protocols.DensityModel`` (or
``ConditionalModel``, ``Classifier``, with the task registered in ``hooks.py``), validate
inputs with ``zoo_core.validate``, and run the tests, which run zoo's conformance kit.
"""

import torch
from torch import nn

from zoo_core.errors import InvalidInput
from zoo_core.validate import check_event, check_images


class Categorical(nn.Module):
    """p(x) = prod over sub-pixels d of softmax(logits[d])[x_d].

    Args:
        event_shape: (C, H, W) of the images.
        num_levels: pixel levels L; images hold integers in [0, L).
        smoothing: pseudo-count that ``fit`` adds to every level of every sub-pixel.
    """

    def __init__(self, event_shape=(1, 8, 8), num_levels=17, smoothing=1.0):
        super().__init__()
        self.event_shape = check_event(event_shape, num_levels)
        self.num_levels = num_levels
        if not isinstance(smoothing, (int, float)) or smoothing < 0:
            raise InvalidInput(f"smoothing must be a number >= 0; got {smoothing!r}")
        self.smoothing = float(smoothing)
        self.logits = nn.Parameter(torch.zeros(*self.event_shape, num_levels))

    def log_prob(self, x):
        """Natural-log probability of each image of ``x`` (B, C, H, W); returns (B,).

        Raises:
            InvalidInput: not an integer tensor of the event shape with levels in range.
        """
        x = check_images(x, self.event_shape, self.num_levels).to(self.logits.device)
        log_p = torch.log_softmax(self.logits, -1).expand(len(x), *self.logits.shape)
        return log_p.gather(-1, x.unsqueeze(-1)).squeeze(-1).flatten(1).sum(1)

    def sample(self, n, *, generator=None):
        """``n`` images, a long tensor (n, C, H, W), drawn with ``generator`` on its own device."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidInput(f"expected a non-negative integer number of samples; got {n!r}")
        device = generator.device if generator is not None else self.logits.device
        probs = torch.softmax(self.logits.detach().double(), -1).reshape(-1, self.num_levels).to(device)
        if n == 0:
            return torch.zeros(0, *self.event_shape, dtype=torch.long, device=self.logits.device)
        draws = torch.multinomial(probs, n, replacement=True, generator=generator)
        return draws.T.reshape(n, *self.event_shape).to(self.logits.device)

    def fit(self, x, y=None, *, generator=None, progress=True):
        """Set the maximum-likelihood logits from the training images ``x`` (N, C, H, W); ``y`` is unused.

        `zoo train` calls this instead of gradient descent. Returns figures for the model
        card (none: `zoo train` measures bits/dim itself).
        """
        x = check_images(x, self.event_shape, self.num_levels)
        d = self.logits[..., 0].numel()
        offsets = torch.arange(d) * self.num_levels
        counts = torch.zeros(d * self.num_levels, dtype=torch.float64)
        for batch in x.flatten(1).split(4096):
            counts += torch.bincount((batch + offsets).flatten(), minlength=counts.numel()).double()
        with torch.no_grad():
            self.logits.copy_((counts + self.smoothing).log().reshape(self.logits.shape))
        return {}
'''

TEST_KIT = '''\
"""zoo's conformance kit on every architecture of this plugin: one test per architecture and check.

`python -m pytest -k "$name/categorical:sampler-grey"` runs one check; `zoo check $name/categorical`
runs them all from the command line.
"""

from zoo_core.testing import parametrize_with_checks


@parametrize_with_checks(["$name/categorical"])
def test_architecture_passes_the_conformance_kit(architecture, check):
    check(architecture)
'''

TEST_MODEL = '''\
"""What the kit cannot know about this plugin: it is installed, its entry loads, its fit is right."""

import torch

import zoo_core as zoo


def test_the_plugin_is_installed_and_working():
    (plugin,) = [p for p in zoo.list_plugins() if p.name == "$name"]
    assert plugin.error is None and plugin.package == "$dist"
    assert zoo.architectures("$name/*") == ["$name/categorical"]


def test_the_registry_entry_builds_untrained():
    assert "$name-digits" in zoo.list_models("$name-*")
    model = zoo.load("$name-digits", pretrained=False)
    assert model.event_shape == (1, 8, 8) and model.num_levels == 17


def test_fit_gives_the_observed_frequencies():
    model = zoo.build("$name/categorical", event_shape=(1, 1, 2), num_levels=3, smoothing=0.0)
    x = torch.tensor([[[[0, 1]]], [[[0, 2]]]])
    model.fit(x)
    assert torch.allclose(model.log_prob(x).exp(), torch.tensor([0.5, 0.5]))
    assert model.log_prob(torch.tensor([[[[1, 1]]]])).exp().item() == 0.0
'''

README = '''\
# $dist

$title: a plugin for [zoo](https://pypi.org/project/zoo-core/), the zoo of probabilistic
image models. It registers the architecture `$name/categorical` (a density model, p(x):
independent categoricals, one per sub-pixel) and the registry entry `$name-digits`.
`zoo new-plugin $name` wrote this package; replace the model with yours.

## Layout

```
pyproject.toml             the `zoo` entry point: $name = "$package.hooks"
src/$package/hooks.py      registers architectures and models; imports no torch
src/$package/model.py      the model: log_prob(x), sample(n, generator=...), fit(x)
tests/                     zoo's conformance kit, and this plugin's own tests
```

## Develop and test

```bash
pip install -e ".[test]"
zoo plugins                    # $name  $dist 0.1.0  $name/categorical
python -m pytest               # the conformance kit, one test per check, and the plugin's tests
zoo check $name/categorical    # the same kit from the command line
```

Builders take `event_shape` and `num_levels` (and `num_classes`, `class_names` for
conditional models and classifiers) and have working defaults for everything else; their
arguments must be JSON (they are written to the checkpoint's `config.json`). An
autoregressive model sets `autoregressive = True` and implements
`conditional_log_probs(x[, y])`, and the kit then checks that it never sees the future.

## Train, publish, pin

```bash
zoo train $name/categorical --data digits --out $name-digits     # fit() makes this take seconds
zoo eval ./$name-digits --data digits                             # test bits/dim
zoo publish ./$name-digits --repo YOUR-ORG/$name-digits           # needs HF_TOKEN or `hf auth login`
```

`zoo publish` runs the kit again, refreshes the model card, uploads the checkpoint and
prints the commit sha and a registry entry pinning it (the commit and the sha256 of
config.json and model.safetensors). Paste that entry into `zoo_register_models` in
`hooks.py`; then `zoo.load("$name-digits")` downloads exactly those bytes and checks them.

## Release on PyPI

```bash
python -m pip install build twine
python -m build                 # dist/$package-0.1.0.tar.gz and the wheel
python -m twine upload dist/*   # then anyone can `pip install $dist`
```
'''

GITIGNORE = """\
__pycache__/
*.egg-info/
build/
dist/
"""

#: Every file of the package, by its path inside the package folder.
FILES = {
    "pyproject.toml": PYPROJECT,
    ".gitignore": GITIGNORE,
    "README.md": README,
    "src/$package/__init__.py": INIT,
    "src/$package/hooks.py": HOOKS,
    "src/$package/model.py": MODEL,
    "tests/test_${package}_conformance.py": TEST_KIT,
    "tests/test_${package}_model.py": TEST_MODEL,
}


def _names(name: str) -> dict[str, str]:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ZooError(f"plugin name {name!r}: use lower-case letters, digits, '-' and '_', starting with a letter "
                       f"(it prefixes every architecture, e.g. 'myplugin/categorical')")
    if name.startswith(("zoo-", "zoo_")):
        raise ZooError(f"plugin name '{name}': leave out the zoo- prefix; the package is named zoo-<name> already")
    if name in _TAKEN:
        raise ZooError(f"plugin name '{name}' is taken by a first-party plugin; choose another")
    return {"name": name, "package": "zoo_" + name.replace("-", "_"), "dist": "zoo-" + name,
            "title": name.replace("-", " ").replace("_", " ").capitalize()}


def files_for(name: str) -> dict[str, str]:
    """The files of plugin ``name``'s package: path inside the package folder -> text."""
    names = _names(name)
    return {Template(path).substitute(names): Template(text).substitute(names) for path, text in FILES.items()}


def new_plugin(name: str, directory=".") -> Path:
    """Write the package ``zoo-<name>`` into ``directory`` and return its folder.

    Raises:
        ZooError: a name that cannot be a plugin's, or a folder that exists and is not empty.
    """
    files = files_for(name)
    folder = Path(directory) / f"zoo-{name}"
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ZooError(f"{folder} exists and is not empty: remove it or pick another --dir")
    for path, text in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder

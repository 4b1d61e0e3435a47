"""Bayes composition measured on Fashion-MNIST's test split: a Markdown report and its JSON.

    python bench/report_bayes.py [--limit N] [--device cpu|cuda] [--out docs/bayes-report.md]
                                 [--batch-size B] [--seed S]

Three questions, every figure computed here and printed into the report (none typed by hand):

1. Conditional bits/dim, -log2 p(x | y) / D with the image's own label: ``zoo.bayes`` of the
   CNN softmax classifier with each density (PixelCNN, GMM) under each prior (implied,
   uniform, data), against the natively conditional PixelCNN and GMM.
2. Accuracy and NLL of the generative classifiers ``zoo.generative_classifier`` built from
   the conditional PixelCNN and GMM (every class scored: num_classes passes per image),
   against the softmax classifiers.
3. Rejection: AUROC for telling the test images from inputs that do not belong (uniform
   noise, scikit-learn's digits upscaled, constant images, inverted test images) by the scores
   of ``zoo.with_rejection`` (log p(x); likelihood ratios against a background density, Ren et
   al. 2019; input complexity, Serra et al. 2020) and by the classifier's maximum probability;
   then accuracy on accepted test images against rejection rate, the thresholds calibrated on
   training images as ``with_rejection(quantile=...)`` does.

The compositions are the zoo's own (``zoo.bayes``, ``zoo.generative_classifier``,
``zoo.with_rejection``), built on :class:`Shared` wrappers of the loaded models so that all
compositions looking at one batch share one forward pass of each model.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

import zoo_core as zoo
from zoo_core.compose import zlib_code_length
from zoo_core.data import load_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from background import LocalContextDensity  # noqa: E402

CLASSIFIER = "softmax-fashion-mnist"  # composed with each density, and the one that rejects
LINEAR = "softmax-linear-fashion-mnist"
DENSITIES = ("pixelcnn-fashion-mnist", "gmm-fashion-mnist")
CONDITIONALS = ("pixelcnn-fashion-mnist-conditional", "gmm-fashion-mnist-conditional")
PIXELCNN, GMM = DENSITIES  # the density that rejects; the first background
PRIORS = ("implied", "uniform", "data")
#: with_rejection configurations: key -> (score, background: None, "gmm" or "local")
REJECTORS = {"likelihood": ("likelihood", None), "ratio-gmm": ("ratio", "gmm"),
             "ratio-local": ("ratio", "local"), "complexity": ("complexity", None)}
LOCAL_PERTURB = 0.1  # Ren et al.'s mutation rate for the background's training inputs
QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5)
HEADLINE_QUANTILE = 0.05  # built with with_rejection(quantile=...) itself; the other rows reuse its scores


class Shared(torch.nn.Module):
    """A loaded model that keeps its answer for the latest batch.

    Compositions built on it that look at the same batch (three priors of ``zoo.bayes``, four
    scores of ``zoo.with_rejection``) share one forward pass. ``sample`` passes
    ``sample_kwargs`` on (the PixelCNN's ``cache=``).
    """

    def __init__(self, model, **sample_kwargs):
        super().__init__()
        self.model = model
        for name in ("event_shape", "num_levels", "num_classes", "class_names", "label_counts"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))
        self.sample_kwargs = sample_kwargs
        self._last: tuple[str, torch.Tensor, torch.Tensor] | None = None

    def _reuse(self, method: str, x: torch.Tensor) -> torch.Tensor:
        last = self._last
        if last is not None and last[0] == method and last[1].shape == x.shape and last[1].device == x.device \
                and last[1].dtype == x.dtype and torch.equal(last[1], x):
            return last[2]
        value = getattr(self.model, method)(x)
        self._last = (method, x, value)
        return value

    def log_prob(self, x):
        return self._reuse("log_prob", x)

    def predict_log_proba(self, x):
        return self._reuse("predict_log_proba", x)

    def predict(self, x):
        return self.predict_log_proba(x).argmax(1)

    def sample(self, n, *, generator=None):
        return self.model.sample(n, generator=generator, **self.sample_kwargs)


def auroc(inside: torch.Tensor, outside: torch.Tensor) -> float:
    """P(an inside image scores higher than an outside one), ties counted half.

    The Mann-Whitney U statistic of the inside scores over n_in * n_out, from the ranks of all
    scores together, tied scores sharing their average rank.
    """
    scores = torch.cat([inside, outside]).double().cpu()
    if bool(scores.isnan().any()):
        raise ValueError("AUROC of NaN scores")
    _, inverse, counts = torch.unique(scores, sorted=True, return_inverse=True, return_counts=True)
    last_rank = counts.cumsum(0).double()  # 1-based rank of each group's last member
    ranks = (last_rank - (counts.double() - 1) / 2)[inverse]
    n_in, n_out = len(inside), len(outside)
    return float((ranks[:n_in].sum() - n_in * (n_in + 1) / 2) / (n_in * n_out))


def bits_per_dim(nats: float, count: int, dims: int) -> float:
    """-log2 p per sub-pixel from a total of -log p in nats over ``count`` images."""
    return nats / count / (dims * math.log(2))


def batches(n: int, size: int, description: str):
    return tqdm(range(0, n, size), desc=description, unit="batch", file=sys.stderr, leave=False)


def out_of_distribution(test_images: torch.Tensor, seed: int) -> dict[str, tuple[torch.Tensor, str]]:
    """The foreign inputs, each set built deterministically from ``seed``: {name: (uint8 images, how)}."""
    n = len(test_images)
    noise = torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(seed + 1),
                          dtype=torch.uint8)
    levels = torch.randint(0, 256, (n,), generator=torch.Generator().manual_seed(seed + 2))
    constant = levels.to(torch.uint8)[:, None, None, None].expand(n, 1, 28, 28).contiguous()
    digits = torch.cat([load_dataset("digits", split).images for split in ("train", "test")])
    available, m = len(digits), min(n, len(digits))
    if m < available:
        digits = digits[torch.randperm(available, generator=torch.Generator().manual_seed(seed + 3))[:m]]
    upscaled = F.interpolate(digits.double() * (255 / 16), size=(28, 28), mode="bilinear", align_corners=False)
    return {
        "uniform noise": (noise, "every pixel uniform on 0..255, independently"),
        "digits": ((upscaled.round().clamp(0, 255)).to(torch.uint8),
                   f"{m} of scikit-learn's {available} 8x8 digits (zoo's `digits` train and test splits; levels "
                   "0..16, ink bright on a dark ground as in Fashion-MNIST): levels times 255/16, bilinear "
                   "interpolation to 28x28 (`torch.nn.functional.interpolate`, align_corners=False), rounded to "
                   "the nearest integer"),
        "constant": (constant, "one level per image, uniform on 0..255"),
        "inverted test": ((255 - test_images.int()).to(torch.uint8), "255 - x for each test image used"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N test images (default: all)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="docs/bayes-report.md", help="the Markdown report; the JSON goes next to it")
    parser.add_argument("--batch-size", type=int, default=500, help="images per forward pass")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prior-samples", type=int, default=512, help="density samples for the implied prior")
    parser.add_argument("--sample-cache", choices=("on", "off"), default="on",
                        help="the PixelCNN's cached sampler for the implied prior (off: one full pass per sub-pixel)")
    parser.add_argument("--calibration", type=int, default=5000,
                        help="training images that calibrate the rejection thresholds (at most the test images used)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    device, bs = torch.device(args.device), args.batch_size
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings[name] = round(time.perf_counter() - since, 2)
        return time.perf_counter()

    # --- data -------------------------------------------------------------------------------
    clock = time.perf_counter()
    test = load_dataset("fashion-mnist", "test")
    n = len(test.images) if args.limit is None else min(args.limit, len(test.images))
    images, labels = test.images[:n], test.labels[:n]
    train = load_dataset("fashion-mnist", "train")
    n_cal = min(args.calibration, n)
    order = torch.randperm(len(train.images), generator=torch.Generator().manual_seed(args.seed))
    calibration = train.images[order[:n_cal]]
    foreign = out_of_distribution(images, args.seed)
    dims = math.prod(images.shape[1:])
    clock = lap("data", clock)

    # --- models and compositions -------------------------------------------------------------
    def shared(name: str) -> Shared:
        model = zoo.load(name, device=device).eval()
        takes_cache = "cache" in inspect.signature(model.sample).parameters if hasattr(model, "sample") else False
        return Shared(model, **({"cache": args.sample_cache == "on"} if takes_cache else {}))

    classifiers = {name: shared(name) for name in (CLASSIFIER, LINEAR)}
    densities = {name: shared(name) for name in DENSITIES}
    conditionals = {name: zoo.load(name, device=device).eval() for name in CONDITIONALS}
    clock = lap("load", clock)
    local = LocalContextDensity(train.images.shape[1:], train.num_levels).to(device)
    local_fit = local.fit(train.images, perturb=LOCAL_PERTURB, generator=torch.Generator().manual_seed(args.seed))
    backgrounds = {None: None, "gmm": densities[GMM], "local": local}
    clock = lap("fit the local background", clock)
    composed, prior_seconds = {}, {}
    with torch.no_grad():
        for d in DENSITIES:
            for prior in PRIORS:
                since = time.perf_counter()
                composed[d, prior] = zoo.bayes(classifiers[CLASSIFIER], densities[d], prior=prior,
                                               prior_samples=args.prior_samples,
                                               generator=torch.Generator().manual_seed(args.seed))
                if prior == "implied":
                    prior_seconds[d] = round(time.perf_counter() - since, 2)
        clock = lap("implied priors", clock)
        generative = {c: zoo.generative_classifier(conditionals[c], prior="uniform") for c in CONDITIONALS}
        rejecting = {key: zoo.with_rejection(classifiers[CLASSIFIER], densities[PIXELCNN], quantile=HEADLINE_QUANTILE,
                                             data=calibration.to(device), batch_size=bs, score=score,
                                             background=backgrounds[background])
                     for key, (score, background) in REJECTORS.items()}
    clock = lap("with_rejection calibration", clock)

    # --- the test images, then the foreign and calibration images -------------------------------
    sums = {key: 0.0 for key in [*composed, *DENSITIES, *CONDITIONALS]}  # -log p in nats
    correct = {name: 0 for name in [*classifiers, *generative]}
    nll = {name: 0.0 for name in [*classifiers, *generative]}
    accepted = {key: [0, 0] for key in REJECTORS}  # with_rejection's own predict: accepted, right among them
    native_check: dict[str, float] = {}
    test_correct = []  # per test image: is the classifier right
    per_image: dict[str, dict[str, list[torch.Tensor]]] = {}  # group -> score -> batches

    def rejection_scores(x, group):
        store = per_image.setdefault(group, {})
        found = {key: model.score(x) for key, model in rejecting.items()}
        found["gmm likelihood"] = densities[GMM].log_prob(x)
        found["local likelihood"] = local.log_prob(x)
        found["compressor"] = -zlib_code_length(x, densities[PIXELCNN].num_levels) * math.log(2)
        found["max probability"] = classifiers[CLASSIFIER].predict_log_proba(x).exp().amax(1)
        for key, value in found.items():
            store.setdefault(key, []).append(value.double().cpu())

    with torch.no_grad():
        for start in batches(n, bs, "test"):
            x = images[start:start + bs].to(device).long()
            y = labels[start:start + bs].to(device)
            for key, model in composed.items():
                sums[key] -= float(model.log_prob(x, y).double().sum())
            for name in DENSITIES:
                sums[name] -= float(densities[name].log_prob(x).double().sum())
            for name, model in classifiers.items():
                log_p = model.predict_log_proba(x).double()
                correct[name] += int((log_p.argmax(1) == y).sum())
                nll[name] -= float(log_p.gather(1, y[:, None]).sum())
                if name == CLASSIFIER:
                    test_correct.append((log_p.argmax(1) == y).cpu())
            for name, model in generative.items():
                joint = torch.cat([model.joint_log_prob(part).double()
                                   for part in x.split(max(1, bs // model.num_classes))])
                log_p = torch.log_softmax(joint, 1)  # what predict_log_proba computes, from the same pass
                correct[name] += int((log_p.argmax(1) == y).sum())
                nll[name] -= float(log_p.gather(1, y[:, None]).sum())
                # the native conditional's log p(x | y), read off the same pass: joint - log p(y)
                own = joint.gather(1, y[:, None])[:, 0] - model.prior.log().to(joint)[y]
                if name not in native_check:  # the first batch, against a direct call
                    native_check[name] = float((own - conditionals[name].log_prob(x, y).double()).abs().max())
                sums[name] -= float(own.sum())
            for key, model in rejecting.items():
                predicted = model.predict(x)
                taken = predicted != model.REJECT
                accepted[key][0] += int(taken.sum())
                accepted[key][1] += int((predicted[taken] == y[taken]).sum())
            rejection_scores(x, "test")
        clock = lap("test images", clock)
        for name, (foreign_images, _) in foreign.items():
            for start in batches(len(foreign_images), bs, name):
                rejection_scores(foreign_images[start:start + bs].to(device).long(), name)
        for start in batches(n_cal, bs, "calibration"):
            rejection_scores(calibration[start:start + bs].to(device).long(), "calibration")
    clock = lap("foreign and calibration images", clock)
    scores = {group: {key: torch.cat(parts) for key, parts in store.items()} for group, store in per_image.items()}
    test_correct = torch.cat(test_correct)

    # --- figures ------------------------------------------------------------------------------
    bayes_rows = []
    for (d, prior), model in composed.items():
        normaliser = composed[d, "implied"].prior / model.prior  # sum_x p(x|y) = E_{x~p(x)} p(y|x) / p(y)
        bayes_rows.append({"model": f"bayes({CLASSIFIER}, {d})", "prior": model.prior_kind,
                           "bits_per_dim": bits_per_dim(sums[d, prior], n, dims),
                           "normaliser_min": float(normaliser.min()), "normaliser_max": float(normaliser.max())})
    for c in CONDITIONALS:
        bayes_rows.append({"model": f"{c} (native)", "prior": "-", "bits_per_dim": bits_per_dim(sums[c], n, dims),
                           "normaliser_min": 1.0, "normaliser_max": 1.0})
    priors = {
        "class_names": list(test.class_names),
        **{f"implied {d}": composed[d, "implied"].prior.tolist() for d in DENSITIES},
        **{f"implied {d} std error": composed[d, "implied"].prior_std_error.tolist() for d in DENSITIES},
        "data": composed[PIXELCNN, "data"].prior.tolist(),
        "uniform": composed[PIXELCNN, "uniform"].prior.tolist(),
    }
    accuracy_rows = [{"model": name, "accuracy": correct[name] / n, "nll": nll[name] / n} for name in classifiers]
    accuracy_rows += [{"model": f"generative_classifier({c}), uniform prior", "accuracy": correct[c] / n,
                       "nll": nll[c] / n} for c in CONDITIONALS]

    score_labels = {
        "likelihood": f"likelihood: log p(x), {PIXELCNN}",
        "ratio-gmm": f"ratio: log p(x) − log q(x), q = {GMM}",
        "ratio-local": "ratio: log p(x) − log q(x), q = local-context background",
        "complexity": "complexity: log p(x) + L(x) ln 2, L = zlib bits",
        "gmm likelihood": f"log q(x) alone, q = {GMM}",
        "local likelihood": "log q(x) alone, q = local-context background",
        "compressor": "−L(x) ln 2 alone (zlib as a density, log 2^−L(x))",
        "max probability": f"max_y p(y|x), {CLASSIFIER}",
    }
    auroc_rows = []
    for key, label in score_labels.items():
        row = {"key": key, "score": label}
        for name in foreign:
            row[name] = auroc(scores["test"][key], scores[name][key])
        row["all foreign"] = auroc(scores["test"][key], torch.cat([scores[name][key] for name in foreign]))
        auroc_rows.append(row)

    curves, checks = {}, {}
    for key in (*REJECTORS, "max probability"):
        rows = []
        for q in QUANTILES:
            own = key in REJECTORS and q == HEADLINE_QUANTILE  # with_rejection's own threshold
            threshold = rejecting[key].threshold if own else float(torch.quantile(scores["calibration"][key], q))
            take = scores["test"][key] >= threshold
            row = {"quantile": q, "threshold": threshold, "test_rejected": 1 - float(take.double().mean()),
                   "accuracy_accepted": float(test_correct[take].double().mean()) if bool(take.any()) else math.nan}
            row.update({f"rejected {name}": float((scores[name][key] < threshold).double().mean()) for name in foreign})
            rows.append(row)
            if own:
                checks[key] = {"threshold": threshold, "predict_accepted": accepted[key][0],
                               "predict_right": accepted[key][1], "row_accepted": int(take.sum()),
                               "row_right": int(test_correct[take].sum())}
        curves[key] = rows
    clock = lap("figures", clock)

    out = Path(args.out)
    environment = {
        "command": shlex.join(["python", "bench/report_bayes.py", *(sys.argv[1:] if argv is None else argv)]),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
        f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)",
        "torch": torch.__version__, "python": platform.python_version(),
        "cudnn_tf32": bool(torch.backends.cudnn.allow_tf32) if device.type == "cuda" else "n/a",
        "test_images": n, "calibration_images": n_cal,
        "foreign_images": {name: len(imgs) for name, (imgs, _) in foreign.items()},
        "foreign_construction": {name: how for name, (_, how) in foreign.items()},
        "seed": args.seed, "batch_size": bs, "prior_samples": args.prior_samples, "sample_cache": args.sample_cache,
        "local_background_fit": local_fit, "implied_prior_seconds": prior_seconds, "timings_s": timings,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    report = {"environment": environment, "conditional_bits_per_dim": bayes_rows,
              "density_bits_per_dim": {d: bits_per_dim(sums[d], n, dims) for d in DENSITIES},
              "priors": priors, "accuracy": accuracy_rows, "native_conditional_check_max_abs_nats": native_check,
              "auroc": auroc_rows, "rejection_curves": curves, "with_rejection_check": checks}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    out.write_text(markdown(report, list(foreign), score_labels, out.with_suffix(".json").name))
    print(f"wrote {out} and {out.with_suffix('.json')} in {environment['wall_time_s']} s", file=sys.stderr)
    print(summary(report, list(foreign), score_labels))


# --- the Markdown ---------------------------------------------------------------------------


def _f(value: float, digits: int = 4) -> str:
    return "nan" if value != value else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return "nan" if value != value else f"{100 * value:.2f}%"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return "\n".join([*lines, *("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows)])


def markdown(report: dict, foreign: list[str], score_labels: dict[str, str], json_name: str) -> str:
    env, priors = report["environment"], report["priors"]
    lines = [
        "# Bayes composition on Fashion-MNIST: a measured report",
        "",
        f"Every figure below was printed by `bench/report_bayes.py` in one run; none is typed by hand. The raw "
        f"figures are in [{json_name}]({json_name}).",
        "",
        table(["", ""], [
            ["command", f"`{env['command']}`"], ["device", env["device"]],
            ["torch", f"{env['torch']} (cuDNN TF32 convolutions: {env['cudnn_tf32']})"],
            ["test images (Fashion-MNIST test split, the first N)", str(env["test_images"])],
            ["calibration images (Fashion-MNIST train split, seeded draw)", str(env["calibration_images"])],
            ["foreign images", ", ".join(f"{k}: {v}" for k, v in env["foreign_images"].items())],
            ["implied priors", f"{env['prior_samples']} density samples each, seed {env['seed']} (PixelCNN sampler "
                               f"cache {env['sample_cache']}); seconds: "
                               + ", ".join(f"{k} {v}" for k, v in env["implied_prior_seconds"].items())],
            ["wall time", f"{env['wall_time_s']} s (" + ", ".join(f"{k} {v} s" for k, v in env["timings_s"].items())
             + ")"],
        ]),
        "",
        "## 1. Conditional bits/dim",
        "",
        "−log₂ p(x | y) / 784 with each test image's own label, averaged over the test images. "
        f"`zoo.bayes({CLASSIFIER}, density, prior=...)` gives log p(x|y) = log p(y|x) + log p(x) − log p(y). "
        "Only the implied prior, p(y) = E over x ~ p(x) of p(y|x), makes Σ_x p(x|y) = 1; under another prior the "
        "composed model sums to p_implied(y) / p(y) instead (last column: the Monte Carlo estimate's range over the "
        "classes), so its bits/dim are not those of a normalised model.",
        "",
        table(["model", "prior", "conditional bits/dim", "Σ_x p(x|y), min–max over classes"],
              [[r["model"], r["prior"], _f(r["bits_per_dim"]),
                f"{_f(r['normaliser_min'], 3)}–{_f(r['normaliser_max'], 3)}"]
               for r in report["conditional_bits_per_dim"]]),
        "",
        "For reference, the densities' own (unconditional) bits/dim on the same images: "
        + "; ".join(f"{d} {_f(v)}" for d, v in report["density_bits_per_dim"].items()) + ".",
        "",
        "The priors p(y) (implied: mean ± Monte Carlo standard error; data: the classifier's training label "
        "frequencies):",
        "",
        table(["class", *[f"implied, {d}" for d in DENSITIES], "data", "uniform"],
              [[name, *[f"{priors[f'implied {d}'][i]:.4f} ± {priors[f'implied {d} std error'][i]:.4f}"
                        for d in DENSITIES], f"{priors['data'][i]:.4f}", f"{priors['uniform'][i]:.4f}"]
               for i, name in enumerate(priors["class_names"])]),
        "",
        "## 2. Classification accuracy",
        "",
        "The generative classifiers score every class, log p(y|x) = log p(x|y) + log p(y) − logsumexp over y', "
        "with a uniform p(y). NLL is −ln p(y|x) in nats per image.",
        "",
        table(["classifier", "accuracy", "NLL (nats)"],
              [[r["model"], _pct(r["accuracy"]), _f(r["nll"])] for r in report["accuracy"]]),
        "",
        "The native conditionals' log p(x|y) in section 1 are read off these classifiers' pass (the joint of the "
        "image's own label minus log p(y)); on the first batch they differ from a direct `log_prob(x, y)` by at "
        "most " + ", ".join(f"{v:.3g} nats ({k})" for k, v in report["native_conditional_check_max_abs_nats"].items())
        + ".",
        "",
        "## 3. Rejecting inputs that do not belong",
        "",
        "The foreign sets (seeded, deterministic):",
        "",
        *[f"- **{name}**: {how}." for name, how in env["foreign_construction"].items()],
        "",
        "AUROC of each score for telling the test images (positive) from each foreign set: the probability that a "
        "test image scores higher than a foreign one, ties counted half (Mann–Whitney, from ranks). 0.5 is chance; "
        "below 0.5 the score rates the foreign inputs *more* in-distribution than the test images. The first four "
        f"rows are `zoo.with_rejection(softmax, {PIXELCNN}, score=...)`'s own `.score(x)` (nats); the "
        "\"alone\" rows are the backgrounds' own log-likelihoods, for reading the ratios.",
        "",
        table(["score", *foreign, "all foreign"],
              [[r["score"], *[_f(r[name]) for name in foreign], _f(r["all foreign"])] for r in report["auroc"]]),
        "",
        *failure_notes(report, foreign),
        "",
        "### Accuracy on accepted inputs against rejection rate",
        "",
        f"Thresholds are quantiles q of the score over the {env['calibration_images']} calibration images, as "
        f"`with_rejection(quantile=q, data=...)` sets them. The q = {HEADLINE_QUANTILE} rows use the threshold of a "
        "`with_rejection` built that way; its own `predict` on the test images accepted "
        + "; ".join(f"{k}: {c['predict_accepted']} ({c['predict_right']} right; the row: {c['row_accepted']}, "
                    f"{c['row_right']})" for k, c in report["with_rejection_check"].items())
        + f". The classifier is `{CLASSIFIER}`.",
        "",
    ]
    for key, rows in report["rejection_curves"].items():
        note = "" if key in REJECTORS else " (not `with_rejection`: the classifier's own confidence, for comparison)"
        lines += [f"**{score_labels[key]}**{note}", "",
                  table(["q", "threshold", "test rejected", "accuracy on accepted test",
                         *[f"{name} rejected" for name in foreign]],
                        [[f"{r['quantile']:.2f}", f"{r['threshold']:.5g}", _pct(r["test_rejected"]),
                          _pct(r["accuracy_accepted"]), *[_pct(r[f"rejected {name}"]) for name in foreign]]
                         for r in rows]), ""]
    fit = env["local_background_fit"]
    lines += [
        "## Method notes",
        "",
        "- **ratio** (Ren et al., *Likelihood Ratios for Out-of-Distribution Detection*, NeurIPS 2019): "
        "log p(x) − log q(x) for a background model q. Ren et al. train q, the same network as p, on training "
        "inputs perturbed so that it learns the population-level statistics which dominate the likelihood but "
        "not the semantics; the ratio cancels them. No such network was trained here; two stand-ins are measured. "
        f"(a) `{GMM}`, the discretised diagonal Gaussian mixture fitted to the clean training images: simpler, "
        "already trained, but a model of the same images rather than of their background statistics. "
        f"(b) A local-context model (`bench/background.py`), built like a lossless image coder's (LOCO-I / "
        "JPEG-LS, Weinberger et al. 2000): each sub-pixel is predicted from its left, upper and upper-left "
        "neighbours by the median edge detector, and the residual has a distribution per bin of local activity "
        f"(one table for all positions), counted over the {fit['images']} training images after Ren et al.'s "
        f"perturbation (each sub-pixel replaced with probability {fit['perturb']} by a uniform random level), "
        f"with add-{fit['smoothing']:g} smoothing; normalised exactly over the 256 levels. It knows smoothness, "
        "edges and flat regions at any level, but not a garment's shape.",
        "- **complexity** (Serrà et al., *Input Complexity and Out-of-distribution Detection with Likelihood-based "
        "Generative Models*, ICLR 2020): S(x) = −log₂ p(x) − L(x) with L(x) the code length in bits of a lossless "
        "compressor; `with_rejection` thresholds −S(x) ln 2 = log p(x) + L(x) ln 2 nats, so that higher is more "
        "in-distribution. It is the likelihood ratio against the compressor's distribution 2^−L(x). L(x) here is "
        "zlib (DEFLATE, level 9) over the image's bytes in raster order (`zoo_core.compose.zlib_code_length`).",
        "",
    ]
    return "\n".join(lines)


def summary(report: dict, foreign: list[str], score_labels: dict[str, str]) -> str:
    """The headline tables, for quoting in the README (printed on stdout)."""
    env = report["environment"]
    return "\n".join([
        f"Measured by `{env['command']}` on {env['device']} ({env['test_images']} test images, "
        f"{env['wall_time_s']} s):",
        "",
        table(["model", "prior", "conditional bits/dim"],
              [[r["model"], r["prior"], _f(r["bits_per_dim"])] for r in report["conditional_bits_per_dim"]]),
        "",
        table(["classifier", "accuracy"], [[r["model"], _pct(r["accuracy"])] for r in report["accuracy"]]),
        "",
        table(["AUROC, test vs", *foreign, "all foreign"],
              [[score_labels[r["key"]], *[_f(r[name], 3) for name in foreign], _f(r["all foreign"], 3)]
               for r in report["auroc"] if r["key"] in (*REJECTORS, "max probability")]),
    ])


def failure_notes(report: dict, foreign: list[str]) -> list[str]:
    """Sentences that follow from the AUROC table, so that no claim in them is typed by hand."""
    rows = {r["key"]: r for r in report["auroc"]}
    remedies = [key for key in REJECTORS if key != "likelihood"]
    notes = []
    for name in foreign:
        raw = rows["likelihood"][name]
        best = max(remedies, key=lambda k: rows[k][name])
        others = ", ".join(f"{k} {rows[k][name]:.4f}" for k in remedies)
        if raw < 0.5:
            notes.append(f"- Raw likelihood fails on **{name}**: AUROC {raw:.4f} < 0.5, the PixelCNN gives these "
                         f"inputs *higher* log p(x) than the test images. Remedies: {others}; the best is "
                         f"`{best}`. The classifier's maximum probability: {rows['max probability'][name]:.4f}.")
        else:
            weak = f" (weakly: in {1 - raw:.1%} of (test, foreign) pairs the foreign input has the higher log p(x))" \
                if raw < 0.9 else ""
            notes.append(f"- **{name}**: log p(x) separates with AUROC {raw:.4f}{weak}; {others}; max probability "
                         f"{rows['max probability'][name]:.4f}.")
    gmm, alone, raw = rows["ratio-gmm"]["all foreign"], rows["gmm likelihood"]["all foreign"], \
        rows["likelihood"]["all foreign"]
    if gmm < raw and alone > raw:
        notes.append(f"- The GMM as background makes log p(x) worse on the foreign sets together (AUROC {gmm:.4f} "
                     f"against {raw:.4f}): its own log q(x) separates them better ({alone:.4f}), i.e. it falls off "
                     "on foreign inputs faster than the PixelCNN's log p(x), so the ratio rises there. It is a "
                     "sharper detector of the same images, not a background model.")
    elif gmm < raw:
        notes.append(f"- The GMM as background makes log p(x) worse on the foreign sets together (AUROC {gmm:.4f} "
                     f"against {raw:.4f}).")
    return notes


if __name__ == "__main__":
    main()

"""Bayes composition, checked exactly by enumerating a tiny space."""

import pytest
import torch

import zoo_core as zoo
from zoo_core.compose import bayes, generative_classifier, marginal, with_rejection
from zoo_core.errors import InvalidInput, ZooError
from zoo_core.testing import all_images, check_normalised, check_sampler_matches_log_prob

SHAPE, LEVELS = (1, 1, 3), 2


def randomised(arch, seed, **config):
    torch.manual_seed(seed)
    model = zoo.build(arch, event_shape=SHAPE, num_levels=LEVELS, **config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 1.5)
    return model.eval()


@pytest.fixture
def parts():
    return randomised("testplugin/linear", 0), randomised("testplugin/categorical", 1)


def exact_prior(classifier, density):
    x = all_images(SHAPE, LEVELS)
    with torch.no_grad():
        return (classifier.predict_log_proba(x).exp() * density.log_prob(x).exp()[:, None]).sum(0).double()


def test_bayes_with_the_exact_implied_prior_is_normalised_and_samples_its_log_prob(parts):
    classifier, density = parts
    model = bayes(classifier, density, prior=exact_prior(classifier, density))
    assert isinstance(model, zoo.ConditionalModel)
    check_normalised(model)
    for label in range(2):
        check_sampler_matches_log_prob(model, n=3000, y=label)
    assert model.last_sample_info["method"] == "rejection"
    assert 0 < model.last_sample_info["acceptance_rate"] <= 1


def test_the_monte_carlo_implied_prior_is_within_its_standard_error(parts):
    classifier, density = parts
    model = bayes(classifier, density, prior="implied", prior_samples=4000, generator=torch.Generator().manual_seed(0))
    exact = exact_prior(classifier, density)
    assert torch.all((model.prior - exact).abs() < 4 * model.prior_std_error)
    assert torch.all(model.prior_std_error > 0) and "±" in repr(model)
    x = all_images(SHAPE, LEVELS)
    for label in range(2):
        total = model.log_prob(x, torch.full((len(x),), label)).exp().sum().item()
        relative_error = (model.prior_std_error[label] / model.prior[label]).item()
        assert abs(total - 1) < 4 * relative_error + 1e-6


def test_bayes_log_prob_is_the_formula(parts):
    classifier, density = parts
    prior = torch.tensor([0.3, 0.7], dtype=torch.float64)
    model = bayes(classifier, density, prior=prior)
    x, y = all_images(SHAPE, LEVELS), torch.tensor([0, 1] * 4)
    with torch.no_grad():
        expected = classifier.predict_log_proba(x)[torch.arange(8), y] + density.log_prob(x) - prior.log().float()[y]
        assert torch.allclose(model.log_prob(x, y), expected, atol=1e-6)
    assert torch.equal(model.prior_std_error, torch.zeros(2))


def test_generative_classifier_and_marginal_are_normalised_and_exact():
    conditional = randomised("testplugin/conditional", 2)
    clf = generative_classifier(conditional)
    check_normalised(clf)
    check_normalised(marginal(conditional, prior=torch.tensor([0.2, 0.8])))
    check_sampler_matches_log_prob(marginal(conditional, prior=torch.tensor([0.2, 0.8])))
    x = all_images(SHAPE, LEVELS)
    with torch.no_grad():
        joint = torch.stack([conditional.log_prob(x, torch.full((8,), k)) for k in range(2)], 1) + torch.log(
            torch.tensor(0.5))
        assert torch.allclose(clf.predict_log_proba(x), torch.log_softmax(joint, 1), atol=1e-6)
    assert torch.equal(clf.predict(x), joint.argmax(1))


def test_bayes_then_generative_classifier_gives_back_the_classifier(parts):
    classifier, density = parts
    prior = exact_prior(classifier, density)
    recovered = generative_classifier(bayes(classifier, density, prior=prior), prior=prior)
    x = all_images(SHAPE, LEVELS)
    with torch.no_grad():
        assert torch.allclose(recovered.predict_log_proba(x), classifier.predict_log_proba(x), atol=1e-5)


class PlainDensity:
    """Not a zoo model, not a Module: just the protocol members."""

    event_shape, num_levels = SHAPE, LEVELS

    def log_prob(self, x):
        return torch.full((len(x),), -torch.log(torch.tensor(8.0)).item())

    def sample(self, n, *, generator=None):
        return torch.randint(2, (n, *SHAPE), generator=generator)


class PlainClassifier:
    event_shape, num_levels, num_classes, class_names = SHAPE, LEVELS, 2, ["even", "odd"]

    def predict_log_proba(self, x):
        odd = (x.flatten(1).sum(1) % 2).float()
        return torch.log(torch.stack([1 - 0.8 * odd - 0.1, 0.8 * odd + 0.1], 1))

    def predict(self, x):
        return self.predict_log_proba(x).argmax(1)


def test_any_objects_with_the_protocol_members_compose():
    model = bayes(PlainClassifier(), PlainDensity(), prior="uniform")
    check_normalised(model)  # the uniform prior is the implied one for this pair
    check_sampler_matches_log_prob(model, n=3000, y=1)


def test_with_rejection_rejects_below_the_threshold_and_calibrates_a_quantile(parts):
    classifier, density = parts
    x = all_images(SHAPE, LEVELS)
    with torch.no_grad():
        scores = density.log_prob(x)
        threshold = scores.median().item()
        model = with_rejection(classifier, density, threshold=threshold)
        predicted = model.predict(x)
    assert torch.equal(predicted == -1, scores < threshold)
    assert torch.equal(predicted[scores >= threshold], classifier.predict(x)[scores >= threshold])
    data = density.sample(4000, generator=torch.Generator().manual_seed(0))
    calibrated = with_rejection(classifier, density, quantile=0.1, data=data)
    with torch.no_grad():
        rejected = (calibrated.predict(data) == -1).float().mean().item()
    assert rejected <= 0.1 + 1e-9 and isinstance(calibrated, zoo.Classifier)


def test_bad_compositions_are_clear_errors(parts):
    classifier, density = parts
    with pytest.raises(InvalidInput, match="different spaces"):
        bayes(classifier, zoo.build("testplugin/categorical", event_shape=(1, 1, 2), num_levels=2))
    with pytest.raises(InvalidInput, match="sum to 1"):
        bayes(classifier, density, prior=torch.tensor([0.5, 0.6]))
    with pytest.raises(InvalidInput, match='"implied", "uniform", "data"'):
        bayes(classifier, density, prior="flat")
    with pytest.raises(ZooError, match="label_counts"):
        bayes(PlainClassifier(), density, prior="data")
    with pytest.raises(InvalidInput, match="exactly one"):
        with_rejection(classifier, density)
    with pytest.raises(InvalidInput, match="calibration images"):
        with_rejection(classifier, density, quantile=0.1)
    with pytest.raises(InvalidInput):
        bayes(classifier, density, prior="uniform").log_prob(all_images(SHAPE, LEVELS), torch.zeros(3).long())


def test_labels_unserved_by_rejection_fall_back_to_sir_and_say_so(parts):
    classifier, density = parts
    model = bayes(classifier, density, prior="uniform")
    model.max_proposals = 1
    draws = model.sample(torch.zeros(200, dtype=torch.long), generator=torch.Generator().manual_seed(0))
    assert draws.shape == (200, *SHAPE) and model.last_sample_info["method"] == "rejection+sir"


def test_a_composition_entry_loads_by_name(tmp_path, monkeypatch):
    from zoo_test_helpers import sha256, write_registry

    classifier = zoo.save(zoo.build("testplugin/linear", event_shape=[1, 2, 3], num_levels=3), tmp_path / "clf")
    pins = {f: sha256(classifier / f) for f in ("config.json", "model.safetensors")}
    models = {
        "tiny-clf": {"architecture": "testplugin/linear", "task": "classifier",
                     "weights": {"local": str(classifier), "sha256": pins}},
        "tiny-bayes": {"compose": "bayes", "classifier": "tiny-clf", "density": "testplugin-tiny",
                       "prior": "implied", "config": {"prior_samples": 64, "seed": 3}},
        "tiny-marginal": {"compose": "marginal", "conditional": "tiny-bayes"},
    }
    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "r.yaml", models)))
    model = zoo.load("tiny-bayes")
    assert isinstance(model, zoo.ConditionalModel) and model.prior_kind == "implied (64 samples)"
    assert torch.equal(model.prior, zoo.load("tiny-bayes").prior)  # seeded: the same estimate each load
    assert zoo.info("tiny-bayes").describe() == "bayes(tiny-clf, testplugin-tiny)"
    assert isinstance(zoo.load("tiny-marginal"), zoo.DensityModel)
    assert zoo.list_models("tiny-*", task="conditional") == ["tiny-bayes"]


@pytest.mark.parametrize("entry, field", [
    ({"compose": "product", "classifier": "a", "density": "b"}, "compose"),
    ({"compose": "bayes", "classifier": "a"}, "density"),
    ({"compose": "bayes", "classifier": "a", "density": "b", "prior": "flat"}, "prior"),
    ({"compose": "bayes", "classifier": "a", "density": "b", "task": "density"}, "task"),
    ({"compose": "bayes", "classifier": "a", "density": "b", "weights": {}}, "weights"),
])
def test_malformed_compositions_name_the_field(tmp_path, monkeypatch, entry, field):
    from zoo_test_helpers import write_registry

    from zoo_core.errors import RegistryError

    monkeypatch.setenv("ZOO_REGISTRY", str(write_registry(tmp_path / "r.yaml", {"bad-compose": entry})))
    with pytest.raises(RegistryError, match=f"field '{field}'"):
        zoo.list_models()


# --- with_rejection's scores: likelihood, ratio, complexity -----------------------------


def test_the_ratio_score_against_the_density_itself_is_zero_everywhere(parts):
    classifier, density = parts
    x = all_images(SHAPE, LEVELS)
    model = with_rejection(classifier, density, threshold=0.0, score="ratio", background=density)
    with torch.no_grad():
        assert torch.equal(model.score(x), torch.zeros(len(x), dtype=torch.float64))
        assert bool(model.accepts(x).all())


def test_the_ratio_score_is_the_difference_of_the_log_probabilities(parts):
    classifier, density = parts
    background = randomised("testplugin/categorical", 5)
    x = all_images(SHAPE, LEVELS)
    model = with_rejection(classifier, density, threshold=0.0, score="ratio", background=background)
    with torch.no_grad():
        expected = density.log_prob(x).double() - background.log_prob(x).double()
        assert torch.equal(model.score(x), expected)
        assert torch.equal(model.predict(x) == -1, expected < 0)


def test_the_complexity_score_adds_the_zlib_code_length_in_nats(parts):
    import math
    import zlib

    from zoo_core.compose import zlib_code_length

    classifier, density = parts
    x = all_images(SHAPE, LEVELS)
    bits = torch.tensor([8.0 * len(zlib.compress(bytes(image.flatten().tolist()), 9)) for image in x],
                        dtype=torch.float64)
    assert torch.equal(zlib_code_length(x, LEVELS), bits)
    model = with_rejection(classifier, density, threshold=0.0, score="complexity")
    with torch.no_grad():
        expected = density.log_prob(x).double() + bits * math.log(2)
        assert torch.allclose(model.score(x), expected, rtol=0, atol=1e-12)


def test_the_zlib_code_length_reads_pixels_in_png_order_and_wide_levels_as_two_bytes():
    import zlib

    from zoo_core.compose import zlib_code_length

    x = torch.arange(12).reshape(1, 3, 2, 2)  # channels first; PNG order is rows, columns, then channels
    interleaved = bytes(x[0].permute(1, 2, 0).flatten().tolist())
    assert zlib_code_length(x, 256).item() == 8 * len(zlib.compress(interleaved, 9))
    wide = torch.tensor([[[[300, 7]]]])
    assert zlib_code_length(wide, 1000).item() == 8 * len(zlib.compress(bytes([1, 44, 0, 7]), 9))


def test_a_given_code_length_is_used_as_bits(parts):
    import math

    classifier, density = parts
    x = all_images(SHAPE, LEVELS)
    model = with_rejection(classifier, density, threshold=0.0, score="complexity",
                           code_length=lambda images: images.flatten(1).sum(1).double())
    with torch.no_grad():
        expected = density.log_prob(x).double() + x.flatten(1).sum(1).double() * math.log(2)
        assert torch.allclose(model.score(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("score", ["likelihood", "ratio", "complexity"])
def test_the_quantile_calibrates_the_chosen_score(parts, score):
    classifier, density = parts
    background = randomised("testplugin/categorical", 5) if score == "ratio" else None
    data = density.sample(2000, generator=torch.Generator().manual_seed(0))
    model = with_rejection(classifier, density, quantile=0.25, data=data, score=score, background=background,
                           batch_size=300)
    with torch.no_grad():
        scores = model.score(data).double()
        assert model.threshold == pytest.approx(float(torch.quantile(scores, 0.25)), abs=1e-9)
        rejected = (model.predict(data) == -1).float().mean().item()
    assert rejected <= 0.25 + 1e-9
    assert model.score_kind == score and f"score={score}" in repr(model)


def test_the_likelihood_score_is_the_default_and_is_log_p(parts):
    classifier, density = parts
    x = all_images(SHAPE, LEVELS)
    model = with_rejection(classifier, density, threshold=-1.0)
    with torch.no_grad():
        assert model.score_kind == "likelihood" and torch.equal(model.score(x), density.log_prob(x))


def test_bad_rejection_scores_are_clear_errors(parts):
    classifier, density = parts
    with pytest.raises(InvalidInput, match="score must be one of"):
        with_rejection(classifier, density, threshold=0.0, score="entropy")
    with pytest.raises(InvalidInput, match="needs a background"):
        with_rejection(classifier, density, threshold=0.0, score="ratio")
    with pytest.raises(InvalidInput, match="only by score=\"ratio\""):
        with_rejection(classifier, density, threshold=0.0, background=density)
    with pytest.raises(InvalidInput, match="only by score=\"ratio\""):
        with_rejection(classifier, density, threshold=0.0, score="complexity", background=density)
    with pytest.raises(InvalidInput, match="only by score=\"complexity\""):
        with_rejection(classifier, density, threshold=0.0, score="ratio", background=density, code_length=len)
    with pytest.raises(InvalidInput, match="different spaces"):
        with_rejection(classifier, density, threshold=0.0, score="ratio",
                       background=zoo.build("testplugin/categorical", event_shape=(1, 1, 2), num_levels=2))
    with pytest.raises(InvalidInput, match="one length in bits per image"):
        with_rejection(classifier, density, threshold=0.0, score="complexity",
                       code_length=lambda images: torch.zeros(1)).score(all_images(SHAPE, LEVELS))
    with pytest.raises(InvalidInput, match="at most two bytes"):
        from zoo_core.compose import zlib_code_length

        zlib_code_length(torch.zeros(1, 1, 1, 1, dtype=torch.long), 70000)
    with pytest.raises(InvalidInput):
        with_rejection(classifier, density, threshold=0.0, score="complexity").score(torch.full((1, *SHAPE), 2))


def test_marginal_of_bayes_gives_back_the_density_and_labels_out_of_range_are_refused(parts):
    classifier, density = parts
    prior = exact_prior(classifier, density)
    composed = bayes(classifier, density, prior=prior)
    x = all_images(SHAPE, LEVELS)
    with torch.no_grad():
        assert torch.allclose(marginal(composed, prior=prior).log_prob(x).double(), density.log_prob(x).double(), atol=1e-5)
    with pytest.raises(InvalidInput, match=r"\[0, 2\)"):
        composed.log_prob(x, torch.full((len(x),), 2))
    with pytest.raises(InvalidInput, match=r"\[0, 2\)"):
        composed.sample(torch.tensor([0, 5]))

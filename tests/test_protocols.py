import torch

import zoo_core as zoo
from zoo_core.testing import check_normalised, check_sampler_matches_log_prob


class NotAModel:
    event_shape = (1, 1, 1)
    num_levels = 2


def test_protocols_are_runtime_checkable_by_members():
    density = zoo.build("testplugin/categorical")
    assert isinstance(density, zoo.DensityModel)
    assert not isinstance(density, zoo.Classifier)
    assert isinstance(zoo.build("testplugin/linear"), zoo.Classifier)
    assert isinstance(zoo.build("testplugin/conditional"), zoo.ConditionalModel)
    assert not isinstance(NotAModel(), zoo.DensityModel)


def test_test_plugin_models_are_normalised_and_sample_their_log_prob():
    torch.manual_seed(0)
    for arch in ("testplugin/categorical", "testplugin/conditional", "testplugin/linear"):
        model = zoo.build(arch, event_shape=(1, 2, 2), num_levels=2)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_()
        check_normalised(model)
    check_sampler_matches_log_prob(zoo.build("testplugin/categorical", event_shape=(1, 2, 2), num_levels=2))

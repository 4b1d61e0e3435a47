"""Plugin discovery through the ``zoo`` entry points, in fresh processes."""

import json
import os
import subprocess
import sys

from zoo_test_helpers import make_plugin, run_zoo

GOOD_PLUGIN = """
    from zoo_core.hookspecs import hookimpl

    def _build(**config):
        from zoo_testplugin.models import Categorical
        return Categorical(**config)

    @hookimpl
    def zoo_register_architectures(register):
        register("{name}/thing", _build, task="density")

    @hookimpl
    def zoo_register_models(register):
        register("{name}-model", {{"architecture": "{name}/thing", "task": "density"}})
"""


def env_for(site):
    return {"PYTHONPATH": str(site)}


def test_a_third_party_plugin_is_discovered_through_its_entry_point(site):
    make_plugin(site, "extra", GOOD_PLUGIN.format(name="extra"))
    plugins = json.loads(run_zoo("plugins", "--json", env=env_for(site), check=True).stdout)
    found = {p["name"]: p for p in plugins}
    assert found["extra"]["package"] == "zoo-extra" and found["extra"]["error"] is None
    assert set(found["extra"]["hooks"]) == {"zoo_register_architectures", "zoo_register_models"}
    assert "extra-model" in run_zoo("list", env=env_for(site), check=True).stdout


def test_a_plugin_that_fails_to_import_is_shown_and_the_others_keep_working(site):
    make_plugin(site, "broken", "import a_module_that_does_not_exist\n")
    make_plugin(site, "extra", GOOD_PLUGIN.format(name="extra"))
    shown = run_zoo("plugins", env=env_for(site), check=True).stdout
    assert "broken  zoo-broken 0.1  BROKEN: ModuleNotFoundError" in shown
    assert "extra  zoo-extra 0.1  extra/thing" in shown
    listed = run_zoo("list", env=env_for(site), check=True).stdout
    assert "extra-model" in listed and "testplugin-tiny" in listed
    assert run_zoo("info", "extra-model", env=env_for(site)).returncode == 0
    loaded = run_zoo("download", "testplugin-tiny", env=env_for(site))
    assert loaded.returncode == 0, loaded.stderr


def test_building_from_a_broken_plugin_names_its_error(site):
    make_plugin(site, "broken", "raise RuntimeError('plugin exploded')\n")
    code = "import zoo_core as zoo\ntry:\n    zoo.build('broken/thing')\nexcept zoo.PluginNotInstalled as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env_for(site)}).stdout
    assert "plugin 'broken' (zoo-broken) is installed but broken: RuntimeError: plugin exploded" in out


def test_a_plugin_whose_hook_raises_is_set_aside(site):
    make_plugin(site, "raiser", """
        from zoo_core.hookspecs import hookimpl

        @hookimpl
        def zoo_register_architectures(register):
            raise KeyError("oops")
    """)
    shown = run_zoo("plugins", env=env_for(site), check=True).stdout
    assert "raiser  zoo-raiser 0.1  BROKEN: KeyError" in shown and "testplugin/categorical" in shown


def test_two_plugins_of_one_name_are_an_error_naming_both(site):
    make_plugin(site, "twin", GOOD_PLUGIN.format(name="twin"), dist="zoo-twin-a")
    make_plugin(site / "other", "twin", GOOD_PLUGIN.format(name="twin"), dist="zoo-twin-b")
    result = run_zoo("list", env={"PYTHONPATH": f"{site}:{site / 'other'}"})
    assert result.returncode == 1
    assert "two plugins are named 'twin': zoo-twin-a and zoo-twin-b" in result.stderr


def test_an_architecture_outside_the_plugins_namespace_is_refused(site):
    make_plugin(site, "second", GOOD_PLUGIN.format(name="first"))
    result = run_zoo("plugins", env=env_for(site))
    assert result.returncode == 1
    assert "plugin 'second' registered architecture 'first/thing': names are 'second/<arch>'" in result.stderr


def test_two_plugins_registering_one_model_name_is_an_error_naming_both(site):
    make_plugin(site, "twin", GOOD_PLUGIN.format(name="twin"))
    make_plugin(site / "other", "twin2", GOOD_PLUGIN.format(name="twin2").replace("twin2-model", "twin-model"))
    result = run_zoo("list", env={"PYTHONPATH": f"{site}:{site / 'other'}"})
    assert result.returncode == 1
    assert "'twin-model' is defined twice: by plugin 'twin' and by plugin 'twin2'" in result.stderr


def test_zoo_plugins_limits_what_loads(site):
    make_plugin(site, "extra", GOOD_PLUGIN.format(name="extra"))
    shown = run_zoo("plugins", "--json", env={**env_for(site), "ZOO_PLUGINS": "extra"}, check=True).stdout
    assert [p["name"] for p in json.loads(shown)] == ["extra"]
    listed = run_zoo("list", env={**env_for(site), "ZOO_PLUGINS": "extra"}, check=True).stdout
    assert "testplugin-tiny" not in listed and "extra-model" in listed

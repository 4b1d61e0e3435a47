import json

from zoo_test_helpers import run_zoo, write_registry

GOOD = {"architecture": "testplugin/categorical", "task": "density", "dataset": "digits",
        "metrics": {"test_bits_per_dim": 1.5}}


def test_list_prints_a_table_and_json(tmp_path):
    env = {"ZOO_REGISTRY": str(write_registry(tmp_path / "r.yaml", {"cli-model": GOOD}))}
    table = run_zoo("list", env=env, check=True).stdout.splitlines()
    assert table[0].split() == ["NAME", "TASK", "ARCHITECTURE", "DATA", "WEIGHTS", "METRICS"]
    assert ["cli-model", "density", "testplugin/categorical", "digits", "-", "test_bits_per_dim=1.5"] in \
        [line.split() for line in table]
    listed = json.loads(run_zoo("list", "cli-*", "--json", env=env, check=True).stdout)
    assert [e["name"] for e in listed] == ["cli-model"] and listed[0]["metrics"] == {"test_bits_per_dim": 1.5}
    assert run_zoo("list", "--task", "classifier", "cli-*", env=env, check=True).stdout.startswith("no models match")


def test_info_shows_the_entry():
    shown = json.loads(run_zoo("info", "testplugin-tiny", "--json", check=True).stdout)
    assert shown["architecture"] == "testplugin/categorical" and len(shown["weights"]["sha256"]) == 2
    assert "task: density" in run_zoo("info", "testplugin-tiny", check=True).stdout


def test_errors_are_one_line_and_exit_one_and_debug_shows_the_traceback(tmp_path):
    result = run_zoo("info", "no-such-model")
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("Error: no model named 'no-such-model'")
    debug = run_zoo("--debug", "info", "no-such-model")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "UnknownModel" in debug.stderr
    bad = run_zoo("list", env={"ZOO_REGISTRY": str(tmp_path / "missing.yaml")})
    assert bad.returncode == 1 and "missing.yaml" in bad.stderr and bad.stderr.count("\n") == 1


def test_download_of_an_entry_without_weights_says_what_to_do(tmp_path):
    env = {"ZOO_REGISTRY": str(write_registry(tmp_path / "r.yaml", {"cli-model": GOOD}))}
    result = run_zoo("download", "cli-model", env=env)
    assert result.returncode == 1 and "has no published weights" in result.stderr


def test_plugins_lists_the_installed_ones():
    assert "testplugin  zoo-testplugin" in run_zoo("plugins", check=True).stdout


def test_sample_writes_a_png_grid_with_one_row_per_label(tmp_path):
    import zoo_core as zoo
    from test_images import read_png

    density = run_zoo("sample", "testplugin-tiny", "-n", "5", "--seed", "1", "-o", str(tmp_path / "d.png"), check=True)
    assert "wrote" in density.stdout and read_png(tmp_path / "d.png").shape == (1, 2 * 4 + 2, 3 * 5 + 2)  # 5 images of 2x3: 2 rows of 3
    again = run_zoo("sample", "testplugin-tiny", "-n", "5", "--seed", "1", "-o", str(tmp_path / "e.png"), check=True)
    assert again.returncode == 0 and (tmp_path / "d.png").read_bytes() == (tmp_path / "e.png").read_bytes()
    folder = zoo.save(zoo.build("testplugin/conditional", num_classes=3, class_names=["a", "b", "c"]), tmp_path / "c")
    run_zoo("sample", str(folder), "-n", "4", "-o", str(tmp_path / "c.png"), check=True)
    assert read_png(tmp_path / "c.png").shape == (1, 3 * 4 + 2, 4 * 5 + 2)  # 3 labels x 4 images of 2x3
    run_zoo("sample", str(folder), "-n", "2", "--label", "b", "-o", str(tmp_path / "b.png"), check=True)
    assert read_png(tmp_path / "b.png").shape == (1, 1 * 4 + 2, 2 * 5 + 2)
    bad = run_zoo("sample", str(folder), "--label", "z", "-o", str(tmp_path / "z.png"))
    assert bad.returncode == 1 and "expected a class name (a, b, c)" in bad.stderr
    classifier = zoo.save(zoo.build("testplugin/linear"), tmp_path / "l")
    refused = run_zoo("sample", str(classifier), "-o", str(tmp_path / "l.png"))
    assert refused.returncode == 1 and "no sampler" in refused.stderr and not (tmp_path / "l.png").exists()

"""Print the README's table of pretrained models from the registry (figures by `zoo eval --write-registry`).

    .venv/bin/python docs/models_table.py
"""

import zoo_core as zoo

BARS = {  # the bars the issues set on the test split, shown beside the measured figures
    "gmm-fashion-mnist": "<= 4.20 bits/dim",
    "softmax-linear-fashion-mnist": ">= 84% accuracy",
    "softmax-fashion-mnist": ">= 92.5% accuracy",
    "pixelcnn-fashion-mnist": "<= 3.10 bits/dim",
    "pixelcnn-fashion-mnist-conditional": "<= 3.10 conditional bits/dim",
    "pixelrnn-fashion-mnist": "<= 3.10 bits/dim",
}


def figure(entry) -> str:
    m = entry.metrics
    if "test_bits_per_dim" in m:
        kind = "conditional bits/dim" if entry.task == "conditional" else "bits/dim"
        return f"{m['test_bits_per_dim']:.3f} {kind}"
    if "test_accuracy" in m:
        return f"{100 * m['test_accuracy']:.2f}% accuracy, NLL {m['test_nll']:.3f} nats"
    if entry.compose is not None:
        return "see the Bayes report"
    return "no weights" if not entry.pretrained else "not measured"


print("| model | architecture | data | test split | bar |")
print("| --- | --- | --- | --- | --- |")
for name in zoo.list_models():
    entry = zoo.info(name)
    if name.startswith("testplugin"):
        continue
    weights = "" if entry.pretrained else " (architecture only)"
    print(f"| `{name}` | `{entry.describe()}`{weights} | {entry.dataset or '-'} | {figure(entry)} | "
          f"{BARS.get(name, 'measured' if entry.pretrained else '-')} |")

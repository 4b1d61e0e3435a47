"""Run every benchmark in bench/ and print one line each: the figure, its baseline, their ratio.

Each ``bench/bench_*.py`` defines ``run() -> list[Result]``; baselines are measured in the same
run, on the same machine, so the ratios compare like with like.

    .venv/bin/python bench/run.py [NAME ...]
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Result:
    name: str
    value: float  # seconds unless ``unit`` says otherwise
    baseline_name: str
    baseline: float
    unit: str = "s"
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline

    def line(self) -> str:
        return (f"{self.name}: {self.value:.4g} {self.unit} vs {self.baseline_name} {self.baseline:.4g} {self.unit}"
                f" -> ratio {self.ratio:.3f}" + (f"  ({self.note})" if self.note else ""))


def main(names: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    for path in sorted(HERE.glob("bench_*.py")):
        short = path.stem.removeprefix("bench_")
        if names and short not in names:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for result in module.run():
            print(result.line(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

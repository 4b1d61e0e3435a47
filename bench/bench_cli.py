"""`zoo list` must stay cheap: compared with `python -c "import torch"`, median of 5 runs each.

Bar (issue 2): ratio <= 0.5.
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

from run import Result

ZOO = str(Path(sys.executable).parent / "zoo")


def _median_seconds(command: list[str], repeats: int = 5) -> float:
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run() -> list[Result]:
    torch_s = _median_seconds([sys.executable, "-c", "import torch"])
    list_s = _median_seconds([ZOO, "list"])
    return [Result("zoo list", list_s, "import torch", torch_s, note="median of 5; bar <= 0.5")]

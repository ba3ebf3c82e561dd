"""Where the benchmarks run from: the repository's root.

The worker processes themselves (start, wait until ready, stop, peak RSS) are
enginewatch.harness.processes.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

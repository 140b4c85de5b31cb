__version__ = "0.1.0"

import os as _os

# idle OpenMP threads sleep instead of spinning (read once, when torch loads; a user's own setting wins):
# see "Threads on a shared CPU" in nbs/03_profiler.ipynb
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

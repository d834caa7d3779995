"""Write simulated40.csv: 40 trials with heterogeneous true effects and small-study effects.

Run once (the file is committed): python tests/data/metapsy/make_simulated.py
Seeded, so the same file every time. Standard errors from sample sizes 10-200 per arm; true
effects N(0.4, 0.3^2) plus 1.2 * SE (a small-study effect, so that Egger's test has something
to find); a tab-separated file, to read a third kind of table.
"""

from pathlib import Path

import numpy as np

rng = np.random.default_rng(20240101)
n = rng.integers(10, 200, size=40)
se = np.sqrt(2 / n + 0.16 / (4 * n))
theta = rng.normal(0.4, 0.3, size=40) + 1.2 * se
y = rng.normal(theta, se)
lines = ["trial\tsmd\tse_smd\tyear"]
lines += [f"T{i + 1:02d}\t{y[i]:.4f}\t{se[i]:.4f}\t{1990 + i % 30}" for i in range(40)]
(Path(__file__).resolve().parent / "simulated40.tsv").write_text("\n".join(lines) + "\n")

# Pearson chi-square p-values from NumPy and torch alone (the survival function is torch's regularized upper
# incomplete gamma), so the GPU tests run on the GPU machine's image, which has no SciPy.
# tests/test_gpu_image.py checks them against SciPy where SciPy is installed.
import numpy as np
import torch


def chi2_survival(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X chi-square with `dof` degrees of freedom."""
    return float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64),
                                         torch.tensor(statistic / 2, dtype=torch.float64)))


def chisquare_pvalue(observed: np.ndarray, expected: np.ndarray) -> float:
    """Goodness of fit of counts to expected counts (same total), as scipy.stats.chisquare."""
    observed, expected = np.asarray(observed, np.float64), np.asarray(expected, np.float64)
    return chi2_survival(float(((observed - expected) ** 2 / expected).sum()), observed.size - 1)


def contingency_pvalue(table: np.ndarray) -> float:
    """Independence of rows and columns of a table of counts, as scipy.stats.chi2_contingency (no Yates
    correction, which SciPy applies only to 2 x 2 tables)."""
    table = np.asarray(table, np.float64)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    return chi2_survival(float(((table - expected) ** 2 / expected).sum()), dof)

"""Names of the choices the analyses offer (light to import: the command line builds its options
from them before any numerical library is loaded)."""

__all__ = [
    "MISSING_RULES",
    "CI_METHODS",
    "RD_METHODS",
    "DF_METHODS",
    "COVARIANCE_STRUCTURES",
    "ADJUSTED_VARIANCES",
    "MI_STRATEGIES",
    "MI_METHODS",
    "MI_RESAMPLING",
    "REPORT_FORMATS",
]

MISSING_RULES = ("observed", "nri", "locf")
CI_METHODS = ("wilson", "clopper-pearson", "agresti-coull")
RD_METHODS = ("newcombe", "miettinen-nurminen")
DF_METHODS = ("kenward-roger", "satterthwaite", "residual", "between-within")
COVARIANCE_STRUCTURES = ("us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh")
ADJUSTED_VARIANCES = ("ge", "ye")
MI_STRATEGIES = ("MAR", "JR", "CR", "CIR", "LMCF")
MI_METHODS = ("condmean", "approxbayes", "bayes")
MI_RESAMPLING = ("jackknife", "bootstrap")
REPORT_FORMATS = ("html", "rtf", "pdf", "svg")
#: Longest follow-up ``simulate --visits`` accepts, in months (the calibration ends at 12).
MAX_SIMULATED_MONTHS = 120.0

"""The QSE constitutional framework's fixed names and its 60/40 compliance score.

The 13 COF dimensions and 5 UCL laws come from the QSE specification (listed in
docs/qse.md and docs/formats.md); file parsers, the demo and the QSE
page all use these exact strings so scores from every source line up.
"""

from __future__ import annotations

from collections.abc import Mapping

COF_DIMENSIONS: tuple[str, ...] = (
    "Structure & Organization",
    "Stakeholder Management",
    "Information Architecture",
    "Communication Patterns",
    "Process & Workflow",
    "Quality & Standards",
    "Validation & Verification",
    "Risk Management",
    "Integration & Coordination",
    "Sustainability & Maintenance",
    "Knowledge Integration",
    "Performance & Optimization",
    "Governance & Oversight",
)

UCL_LAWS: tuple[str, ...] = (
    "Systematic Approach",
    "Evidence-Based Decision Making",
    "Adaptive Execution",
    "Continuous Learning Integration",
    "Holistic Integration",
)

COF_WEIGHT = 0.6
UCL_WEIGHT = 0.4


def compliance_summary(cof: Mapping[str, float], ucl: Mapping[str, float]) -> dict[str, object]:
    """Scores per dimension/law plus the means and the weighted overall score (0..1).

    A dimension or law without a score is left out of its mean and shows up as
    lower coverage, rather than silently counting as zero.
    """
    cof_mean = sum(cof.values()) / len(cof) if cof else 0.0
    ucl_mean = sum(ucl.values()) / len(ucl) if ucl else 0.0
    return {
        "cof_scores": {k: round(v, 4) for k, v in cof.items()},
        "ucl_scores": {k: round(v, 4) for k, v in ucl.items()},
        "cof_score": round(cof_mean, 4),
        "ucl_score": round(ucl_mean, 4),
        "overall_compliance": round(cof_mean * COF_WEIGHT + ucl_mean * UCL_WEIGHT, 4),
        "cof_coverage": round(len(cof) / len(COF_DIMENSIONS), 4),
        "ucl_coverage": round(len(ucl) / len(UCL_LAWS), 4),
    }

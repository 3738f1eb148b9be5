"""The page catalogue: which pages exist, for whom, and how often they refresh.

One table drives the navigation, the role checks and the docs, so a page cannot be
visible in the menu yet unguarded, or documented with the wrong audience. The values
are DESIGN.md's page/role map.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("executive", "operations", "developer", "qa_lead", "admin")
ALL = ROLES


@dataclass(frozen=True)
class PageSpec:
    """One page: its URL slug, title, menu section, script, audience and default refresh."""

    slug: str
    title: str
    section: str
    icon: str
    roles: tuple[str, ...]
    refresh_s: int | None  # None: manual refresh
    script: str | None = None  # None until the page's issue lands
    issue: int | None = None  # the issue that builds a placeholder page


PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "Overview", "Everyone", ":material/monitor_heart:", ALL, 30, "pages/overview.py"),
    PageSpec("explore", "Explore", "Everyone", ":material/query_stats:", ALL, None, "pages/explore.py", 4),
    PageSpec("migration", "Migration health", "Everyone", ":material/swap_horiz:", ALL, 30, "pages/migration.py", 17),
    PageSpec(
        "dashboards", "Dashboards", "Everyone", ":material/dashboard_customize:", ALL, None, "pages/dashboards.py", 20
    ),
    PageSpec(
        "executive",
        "Executive",
        "Management",
        ":material/insights:",
        ("executive", "admin"),
        30,
        "pages/executive.py",
        5,
    ),
    PageSpec(
        "sla",
        "SLAs & error budgets",
        "Management",
        ":material/timer:",
        ("executive", "operations", "admin"),
        30,
        "pages/sla.py",
        7,
    ),
    PageSpec(
        "capacity",
        "Capacity & forecasts",
        "Management",
        ":material/trending_up:",
        ("operations", "executive", "admin"),
        None,
        "pages/capacity.py",
    ),
    PageSpec(
        "reports",
        "Reports & export",
        "Management",
        ":material/description:",
        ("executive", "operations", "qa_lead", "admin"),
        None,
        "pages/reports.py",
    ),
    PageSpec(
        "operations",
        "Operations",
        "Operations",
        ":material/settings_suggest:",
        ("operations", "admin"),
        10,
        "pages/operations.py",
        5,
    ),
    PageSpec(
        "alerts",
        "Alerts",
        "Operations",
        ":material/notifications_active:",
        ("operations", "qa_lead", "admin"),
        10,
        "pages/alerts.py",
        6,
    ),
    PageSpec(
        "developer", "Developer", "Engineering", ":material/code:", ("developer", "admin"), 15, "pages/developer.py", 5
    ),
    PageSpec(
        "insights",
        "Insights",
        "Engineering",
        ":material/lightbulb:",
        ("executive", "operations", "developer", "admin"),
        300,
        "pages/insights.py",
        21,
    ),
    PageSpec("qa", "Quality (QA)", "Quality", ":material/verified:", ("qa_lead", "admin"), 15, "pages/qa.py", 5),
    PageSpec(
        "qse",
        "QSE compliance",
        "Quality",
        ":material/rule:",
        ("executive", "qa_lead", "admin"),
        30,
        "pages/qse.py",
        16,
    ),
    PageSpec(
        "admin", "Admin", "Administration", ":material/admin_panel_settings:", ("admin",), None, "pages/admin.py", 8
    ),
    PageSpec(
        "audit", "Audit log", "Administration", ":material/history:", ("operations", "admin"), None, "pages/audit.py", 8
    ),
)

SECTIONS = ("Everyone", "Management", "Operations", "Engineering", "Quality", "Administration")


def pages_for(role: str) -> list[PageSpec]:
    """The pages ``role`` may open, in menu order."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return [page for page in PAGES if role in page.roles]


def page(slug: str) -> PageSpec:
    """The page with URL slug ``slug``."""
    for spec in PAGES:
        if spec.slug == slug:
            return spec
    raise KeyError(slug)

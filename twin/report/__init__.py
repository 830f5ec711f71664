"""Reports of runs: KPI tables, matplotlib figures and the single-file HTML report."""

from twin.report.html import write_report

__all__ = ["write_report"]

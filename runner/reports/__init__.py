"""Report writers: report.json, junit.xml, summary.md and report.html, all from one run record."""

from runner.reports.writer import REPORT_FILES, write_reports

__all__ = ["REPORT_FILES", "write_reports"]

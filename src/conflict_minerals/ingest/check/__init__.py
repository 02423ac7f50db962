"""Checking: each workbook checked against the reference list, and what it adds to the survey."""

"""Writing: the survey file, the findings, the CSVs and the per-workbook details."""

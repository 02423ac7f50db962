"""Reading: every byte of a supplier workbook, in guarded worker processes, into a SupplierWorkbook."""

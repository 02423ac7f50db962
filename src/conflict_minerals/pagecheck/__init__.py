"""The layout check: faults a reader sees on the rendered pages, found by a program.

The rules (rules.py) look at positioned lines on pages (model.py), whoever laid them out:
WeasyPrint's own page boxes during `cmr build` (weasy.py, a few milliseconds per document), or
the words of any PDF, such as LibreOffice's rendering of a .docx, read with poppler
(pdfpages.py, for the tests)."""

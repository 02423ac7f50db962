"""EDGAR: the SEC filing versions of the documents and a linter for EDGAR HTML rules."""

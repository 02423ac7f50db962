"""Word output: the documents as .docx (docx.py) and the year-over-year redline as native
tracked changes (redline.py), both from the rendered HTML (reader.py)."""

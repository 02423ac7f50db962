"""`cmr ingest`: supplier CMRT/EMRT workbooks -> checked, aggregated survey results.

reader.py opens a workbook safely; detect.py names its template and version; extract.py reads
it through the version's cell map (cellmaps/*.json); checks.py turns what was read into
findings; aggregate.py merges every supplier into the survey results `cmr build` reads;
runner.py does it in parallel with a content-hash cache.
"""

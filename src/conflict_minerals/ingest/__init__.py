"""`cmr ingest`: a folder of supplier CMRT/EMRT/CRT workbooks -> the survey results `cmr build` reads.

The stages, in the order a run goes through them (pipeline.py drives them; options.py holds
what the run is asked to do, models.py the types the stages hand each other, stopping.py how a
run stops on SIGTERM/SIGINT):

    read/        the bytes of each workbook, guarded, into a SupplierWorkbook
      discover     the folder listed without opening a file; odd entries become findings
      runner       worker processes (time and memory limits, content-hash cache, the look-up)
      reader       a workbook opened safely (zip bombs, XML entities, encryption) and its cells
      detect       which template and version; cellmap + cellmaps/*.json: where each value is
      extract      a workbook read through its version's cell map
    check/       each workbook checked against the reference list and added up
      lists        the reference list, the RMAP status list, the roster (CSV)
      checks       the findings about one workbook (finding codes in CODES)
      locations    the mine-location cells read as places (tables in locations.json)
      responses    a workbook as a response: empty or not, what it declares, how recent
      checking     the reference list chosen, the workbooks checked as they arrive
      aggregate    what each response adds to the survey, added up for those that count
    suppliers/   the supplier work
      identity     who sent each workbook; the one response of each supplier that counts
      status       where each supplier stands (with --roster)
      changes      what each supplier changed since the previous round (--previous)
      letters      letters to suppliers (.html, .docx, .eml drafts; --letters)
    write/       the outputs
      surveyfile   survey.yaml, byte for byte what PyYAML would write, faster
      report       findings.html and findings.csv
      spreadsheet  every CSV, formula-guarded
      details      the per-workbook JSON files (--details), staged until the run succeeds

A stage imports only the stages before it (read <- check <- suppliers, write <- check) and the
shared modules here; only pipeline.py imports them all (tests/test_structure.py checks it).
"""

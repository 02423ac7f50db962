"""The survey results file is written by hand (ingest/write/surveyfile.py) with exactly the bytes
PyYAML's libyaml dumper wrote before: on surveys of real corpus workbooks, on strings chosen
to hit every quoting and folding rule, and on generated trees; and it reads back as written."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conflict_minerals.ingest.pipeline import IngestOptions, run_ingest
from conflict_minerals.ingest.write import surveyfile
from conflict_minerals.ingest.write.surveyfile import survey_yaml

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "cmrt-corpus"
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="../shared/cmrt-corpus is not beside the checkout"
)


# ----- the writer as it was: yaml.dump with libyaml, the reference for every byte -----


class ReferenceDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    pass


def reference_str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    resolved = dumper.resolve(yaml.ScalarNode, value, (True, False))
    style = "'" if resolved != "tag:yaml.org,2002:str" else None
    return yaml.ScalarNode("tag:yaml.org,2002:str", value, style=style)


ReferenceDumper.add_representer(str, reference_str_presenter)


def reference(survey: Any) -> bytes:
    header = "# Survey results written by `cmr ingest`; `cmr build` reads this file.\n"
    body = yaml.dump(survey, Dumper=ReferenceDumper, sort_keys=False, allow_unicode=True, width=110)
    return (header + body).encode("utf-8")


def assert_same_bytes(document: Any) -> None:
    expected = reference(document)
    written = survey_yaml(document)
    if written != expected:  # show the first line that differs, not two walls of bytes
        for number, (mine, theirs) in enumerate(
            zip(written.decode().splitlines(), expected.decode().splitlines(), strict=False), 1
        ):
            assert mine == theirs, f"line {number} differs"
        assert written == expected


def test_without_libyaml_pyyaml_writes_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-written path copies libyaml's emitter; PyYAML's Python emitter (PyYAML built
    without libyaml) differs in places, so then PyYAML writes the whole file."""
    assert yaml.__with_libyaml__ == surveyfile.LIBYAML
    calls: list[Any] = []
    monkeypatch.setattr(surveyfile, "LIBYAML", False)
    monkeypatch.setattr(surveyfile, "_Writer", lambda: calls.append("hand-written"))
    document = {"a": "b"}
    assert survey_yaml(document) == reference(document) and not calls


# ----- (a) surveys of real supplier workbooks -----


@pytest.fixture(scope="module")
def corpus_surveys(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict, bytes]]:
    """The survey dicts `cmr ingest` built from corpus folders, as handed to the writer, with
    the bytes it wrote: the four filled CMRTs with a status list and a roster, and every
    workbook of the corpus (blank templates, other templates, unsupported ones) together."""
    captured: list[tuple[dict, bytes]] = []
    root = tmp_path_factory.mktemp("survey-yaml")
    filled = root / "filled"
    filled.mkdir()
    for path in sorted(CORPUS.glob("wwww13wwww__mineral-system__RMI_*CMRT_6.4_*.xlsx")):
        shutil.copy(path, filled / path.name)
    everything = root / "everything"
    everything.mkdir()
    for path in sorted([*CORPUS.glob("*.xlsx"), *CORPUS.glob("*.xls")]):
        shutil.copy(path, everything / path.name)
    status = root / "status.csv"
    status.write_text(
        "Smelter ID,Standard Smelter Name,Metal,Assessment Status,As Of\n"
        "CID002494,Ganzhou Seadragon W & Mo Co.,Tungsten,Conformant,2025-03-31\n"
        "CID002082,Xiamen Tungsten,Tungsten,Non-Conformant,2025-03-31\n",
        encoding="utf-8",
    )
    roster = root / "roster.csv"
    roster.write_text('Supplier Name\n"Central Glass Co., Ltd."\nSilent Supplier GmbH\n', encoding="utf-8")
    runs = [
        IngestOptions(
            folder=filled,
            out=root / "filled.yaml",
            reporting_year=2024,
            as_of=datetime.date(2024, 12, 31),
            status=status,
            roster=roster,
            reference=CORPUS / "smelter-reference-6.5.csv",
            jobs=0,
        ),
        IngestOptions(
            folder=everything,
            out=root / "everything.yaml",
            reporting_year=2024,
            as_of=datetime.date(2024, 12, 31),
        ),
    ]
    monkeypatch = pytest.MonkeyPatch()

    def capturing(survey: dict) -> bytes:
        written = survey_yaml(survey)
        captured.append((survey, written))
        return written

    monkeypatch.setattr(surveyfile, "survey_yaml", capturing)  # pipeline looks it up when it writes
    try:
        for options in runs:
            run_ingest(options, lambda *args: None)
            assert (options.out).read_bytes() == captured[-1][1]
    finally:
        monkeypatch.undo()
    return captured


@needs_corpus
def test_corpus_surveys_are_written_as_pyyaml_writes_them(corpus_surveys: list[tuple[dict, bytes]]) -> None:
    assert len(corpus_surveys) == 2
    for survey, written in corpus_surveys:
        assert written == reference(survey)
    filled, everything = (survey for survey, _ in corpus_surveys)
    # Not trivially small: smelters named by row, countries with their cells, red flags.
    assert len(filled["smelters"]) > 50 and filled["countries_of_origin_sources"] and filled["red_flags"]
    assert filled["suppliers_not_responded"] and filled["status_list"]
    assert everything["ingest"]["files_found"] > 40


@needs_corpus
def test_corpus_surveys_take_the_hand_written_path(
    corpus_surveys: list[tuple[dict, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The speed is the point: a real survey must not fall back to PyYAML as a whole."""
    whole: list[Any] = []
    real = surveyfile._pyyaml_dump

    def counting(document: Any) -> str:
        whole.append(document)
        return real(document)

    monkeypatch.setattr(surveyfile, "_pyyaml_dump", counting)
    for survey, written in corpus_surveys:
        assert survey_yaml(survey) == written
        assert not any(document is survey for document in whole)


# ----- (b) tricky strings in every place a scalar can stand -----

RESOLVE_AS_OTHER = [
    "", "~", "null", "Null", "NULL", "NO", "No", "no", "n", "N", "Yes", "yes", "y", "Y", "true",
    "False", "on", "OFF", "1", "-1", "+1", "017", "0o17", "0x1F", "0b101", "1_000", "1:20",
    "1e3", "1.0", "1.5e-3", "1.", ".5", ".inf", "-.Inf", ".nan", "2024-01-01", "2024-1-1",
    "2024-01-01T10:00:00Z", "2024-01-01 10:00:00.5 +01:00", "<<", "=",
]  # fmt: skip
INDICATORS = [
    "-", "--", "---", "--- a", "-a", "- a", "...", "....", "?", "?a", "? a", ":", ":a", ": a",
    "a:", "a:b", "a: b", "a :b", "a::", "::", "a #b", "a#b", "#a", "#", "&a", "*a", "!a",
    "!!str", "|", "|a", ">", ">-", "%a", "@a", "`a", "'", "''", "'a'", "it's", "O'Brien & Sons",
    '"', '"a"', 'say "hi"', "{a}", "{", "}", "[a]", "]", "a]", ",a", "a,b", "a, b", "a?b", "a[b]",
    "a{b}", "a}", "a - b", "a -b", "x: y: z", "C:\\path\\file", "back\\slash", "50%", "a&b", "a*b",
    "a!b", "a|b", "a>b", "a@b", "a`b", "~a", "a~",
]  # fmt: skip
SPACES_AND_BREAKS = [
    " ", "  ", " a", "a ", " a ", "a  b", "a   b", "tab\there", "\tlead", "trail\t", "line\nbreak",
    "line\n", "\nlead", "a\n\nb", "a \nb", "a\n b", "a\n\n", "\n", "\n\n", "cr\rhere", "crlf\r\nhere",
    "nel\x85here", "ls\u2028here", "ps\u2029here", "\u2028", "\x85",
]  # fmt: skip
CHARACTERS = [
    "nul\x00", "bell\x07", "bs\x08", "vt\x0b", "ff\x0c", "esc\x1b", "del\x7f", "c1\x80\x9f",
    "\xa0nbsp", "nbsp\xa0", "a\xa0b", "\ufeffbom", "zero\u200bwidth", "\ud7ff", "\ue000", "\ufffd",
    "\ufffe", "\uffff", "Companhia Industrial Fluminense", "Wolfram Bergbau und Hütten AG",
    "Fundição Tupy", "Société Générale de Minerais", "Ulba Metallurgical Plant JSC (УМЗ)",
    "江西耀升钨业股份有限公司", "株式会社 アサヒ", "중국 광산", "emoji 😀", "😀", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "Ünïcödé 'quoted' \"double\"",
    "מכרה", "منجم",
]  # fmt: skip
SENTENCE = "Smelter named by the supplier on the Smelter List is not on the reference list of the RMI"


def long_strings() -> list[str]:
    strings = [
        SENTENCE,
        SENTENCE * 3,
        (SENTENCE + " ") * 2,
        "x" * 300,
        "a " * 90 + "a",
        "a  " * 60 + "a",
        "'" + SENTENCE * 2,
        "it's " * 40 + "done",
        "'" * 150,
        "' ' " * 40,
        "Yes: " + SENTENCE * 2,
        "- " + SENTENCE * 2,
        "# " + SENTENCE * 2,
        SENTENCE * 2 + " #comment",
        SENTENCE * 2 + "\ttab",
        SENTENCE * 2 + "\nand a second line of text " * 3,
        "😀 " * 70,
        SENTENCE.replace(" ", "\u00a0") * 2,
        "中文 " * 60,
        SENTENCE + "  " + SENTENCE,
        SENTENCE + " \\ " + SENTENCE + ' "' + SENTENCE + '"',
    ]
    # A single space at and around the width, for the places below (key widths 1..40, indents
    # 0..6, sequence items): the space lands before, at and after column 110.
    for before in range(60, 114):
        strings.append("x" * before + " " + "y" * 20)
        strings.append("x" * before + " y")
        strings.append("@" + "x" * before + " " + "y" * 20)  # single-quoted: one column more
        strings.append("'" + "x" * before + " " + "y" * 20)  # and a doubled quote: two more
        strings.append("x" * before + "  y")
        strings.append("x" * before + " ")
    return strings


TRICKY = RESOLVE_AS_OTHER + INDICATORS + SPACES_AND_BREAKS + CHARACTERS + long_strings()
KEY_WIDTHS = (1, 4, 9, 17, 40)


def placements(value: Any) -> dict:
    """`value` as a mapping value under keys of several widths, as a sequence item, in a
    sequence of sequences and in a mapping inside a sequence, at several depths."""
    here: dict[str, Any] = {"k" * width: value for width in KEY_WIDTHS}
    here["items"] = [value, [value, [value]], {"inner": value, "other" * 3: [value]}]
    document: dict[str, Any] = {"top": value, "flat": here}
    nested: Any = here
    for depth in range(1, 4):
        nested = {"level": nested, "seq": [dict(here)], "value": value}
        document[f"depth{depth}"] = nested
    return document


def key_placements(key: str) -> dict:
    leaf = {key: 1, "after": key}
    return {key: leaf, "list": [{key: [key]}, {"a": {key: {}}}], "deeper": {"x": {"y": {key: None}}}}


@pytest.mark.parametrize("text", TRICKY, ids=range(len(TRICKY)))
def test_tricky_string_as_value(text: str) -> None:
    assert_same_bytes(placements(text))


@pytest.mark.parametrize("text", TRICKY, ids=range(len(TRICKY)))
def test_tricky_string_as_key(text: str) -> None:
    assert_same_bytes(key_placements(text))


def test_deep_indents_past_the_width() -> None:
    """Past column 110 every single space folds; continuation lines keep the indent."""
    value: Any = {"text": SENTENCE, "quoted": "'" + SENTENCE, "tabbed": SENTENCE + "\t", "list": [SENTENCE]}
    for _ in range(60):
        value = {"n": value, "s": [SENTENCE, ["x y z"]]}
    assert_same_bytes(value)


@pytest.mark.parametrize(
    "value",
    [
        0, 1, -1, 10**30, -(10**30), True, False, None, 0.0, -0.0, 1.5, -2.25, 1e17, 1e-7, 5e-324,
        1.7976931348623157e308, float("inf"), float("-inf"), float("nan"), 123456789.123456789,
    ],
    ids=repr,
)  # fmt: skip
def test_other_scalars(value: Any) -> None:
    assert_same_bytes(placements(value))


def test_empty_collections_and_structure() -> None:
    document = {
        "empty_list": [],
        "empty_dict": {},
        "list_of_empties": [[], {}, [[]], [{}], {"a": []}, {"a": {}}],
        "nested": [[[1, 2], [3]], [{"a": 1, "b": [{"c": []}]}]],
        "mixed": [1, "two", 3.0, None, True, {"k": "v"}, ["x"]],
    }
    assert_same_bytes(document)


def test_what_only_pyyaml_writes_is_left_to_it() -> None:
    shared_list = ["a", "b"]
    shared_empty: list = []
    shared_dict = {"k": "v"}
    cases = [
        {"one": shared_list, "two": shared_list},  # anchors and aliases
        {"one": shared_empty, "nested": {"two": shared_empty}},
        {"one": [shared_dict, shared_dict]},
        {"k" * 129: 1},  # too long for a simple key: "? key"
        {"é" * 65: 1},  # 130 bytes, 65 characters
        {"a\nb": 1},  # a key with a line break
        {1: "int key"},
        {None: "null key"},
        {"date": datetime.date(2024, 1, 1), "tuple": (1, "a"), "set": {1}, "bytes": b"x"},
        {"root": "is fine"} | {"k" * 128: "at the limit"},
    ]
    for document in cases:
        assert_same_bytes(document)
    recursive: dict[str, Any] = {"a": 1}
    recursive["self"] = recursive
    assert_same_bytes(recursive)
    assert_same_bytes({})  # "{}"
    for unsupported in ({"p": Path("x")}, {"o": object()}, {"subclass": type("Text", (str,), {})("text")}):
        with pytest.raises(yaml.representer.RepresenterError):
            reference(unsupported)
        with pytest.raises(yaml.representer.RepresenterError):
            survey_yaml(unsupported)


# ----- generated trees -----

ALPHABET = [*" abcXYZ019-:?#'\"\\\t\n\r\x85\u2028é中😀.,[]{}&*!|>%@`~_", "  ", "yes", "2024-01-01", "1e3"]
text = st.one_of(
    st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join),
    st.lists(st.sampled_from(["a", "bb", "word", "it's", "x" * 30, "", "#", ":", "é"]), max_size=45).map(
        " ".join
    ),
    st.sampled_from(TRICKY[:150]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)


def trees(leaves: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
        ),
        max_leaves=25,
    )


documents = st.dictionaries(text, trees(scalars), min_size=1, max_size=5)
GENERATED = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@GENERATED
@given(documents)
def test_generated_documents(document: dict) -> None:
    assert_same_bytes(document)


# ----- (c) what is written reads back as the survey -----


@GENERATED
@given(documents)
def test_generated_documents_read_back(document: dict) -> None:
    assert yaml.safe_load(survey_yaml(document)) == document


@pytest.mark.parametrize("text", TRICKY, ids=range(len(TRICKY)))
def test_tricky_strings_read_back(text: str) -> None:
    for document in (placements(text), key_placements(text)):
        assert yaml.safe_load(survey_yaml(document)) == document


@needs_corpus
def test_corpus_surveys_read_back(corpus_surveys: list[tuple[dict, bytes]]) -> None:
    for survey, written in corpus_surveys:
        assert yaml.safe_load(written) == survey

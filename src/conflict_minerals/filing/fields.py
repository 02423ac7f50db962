"""Reusable field types for the input models, each with a message a filer understands."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainValidator

from .countries import US_JURISDICTIONS, Country, lookup_country


class StrictModel(BaseModel):
    """Input models reject unknown keys (typos) and are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _pattern_checker(pattern: str, description: str):
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must look like {description} (got {value!r})")
        return value

    return check


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _untab(value: object) -> object:
    # Spreadsheet exports pad values with TABs and newlines; they are never meaningful here.
    if isinstance(value, str):
        return value.replace("\t", " ").strip()
    return value


Text = Annotated[str, BeforeValidator(_untab), AfterValidator(_non_blank)]
Markdown = Annotated[str, AfterValidator(_non_blank)]

EmployerId = Annotated[str, AfterValidator(_pattern_checker(r"[0-9]{2}-[0-9]{7}", "NN-NNNNNNN"))]
CommissionFileNumber = Annotated[
    str, AfterValidator(_pattern_checker(r"0[0-9]{2}-[0-9]{5}", "0NN-NNNNN, e.g. 001-12345"))
]
ZipCode = Annotated[str, AfterValidator(_pattern_checker(r"[0-9]{5}(-[0-9]{4})?", "NNNNN or NNNNN-NNNN"))]
SmelterId = Annotated[
    str, BeforeValidator(_untab), AfterValidator(_pattern_checker(r"CID[0-9]{6}", "CID followed by 6 digits"))
]


def _phone(value: str) -> str:
    digits = re.sub(r"[^0-9]", "", value)
    if not re.fullmatch(r"[0-9+()\-. ]+(\s*(x|ext\.?)\s*[0-9]+)?", value) or len(digits) < 10:
        raise ValueError(f"must be a telephone number with area code, e.g. (408) 555-0100 (got {value!r})")
    return value


Phone = Annotated[str, AfterValidator(_phone)]


def _web_url(value: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:[0-9]+)?(/\S*)?", value):
        raise ValueError(f"must be a full web address starting with https:// (got {value!r})")
    return value


WebUrl = Annotated[str, AfterValidator(_web_url)]

_EMAIL = re.compile(r"[^@\s,;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"must be an email address, e.g. conflict.minerals@example.com (got {value!r})")
    return value


Email = Annotated[str, AfterValidator(_email)]


def _country(value: object) -> Country:
    if isinstance(value, Country):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a country name")
    country = lookup_country(value)
    if country is None:
        raise ValueError(f"{value!r} is not a recognised country name or ISO code")
    return country


CountryName = Annotated[Country, PlainValidator(_country)]


def _jurisdiction(value: str) -> str:
    """A US state or territory, or a country (for registrants organized abroad)."""
    cleaned = value.strip()
    for code, name in US_JURISDICTIONS.items():
        if cleaned.lower() in (name.lower(), code.lower(), f"us-{code.lower()}"):
            return name
    country = lookup_country(cleaned)
    if country is not None:
        return cleaned
    raise ValueError(f"{value!r} is not a US state or a country")


Jurisdiction = Annotated[str, AfterValidator(_jurisdiction)]

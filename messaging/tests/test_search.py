"""The query parser and the highlighter of ``messaging.search`` (no database)."""

from __future__ import annotations

import pytest

from messaging.search import QUERY_MAX, SearchTerms, highlight, search_terms
from neonchat.errors import InvalidInput


def test_words_are_runs_of_letters_and_digits_lower_cased_without_repeats() -> None:
    terms = search_terms("Hello, WORLD! hello_x 'q' a&b:* Ёж2")
    assert terms is not None
    assert terms.words == ("hello", "world", "x", "q", "a", "b", "ёж2")
    assert terms.exact == {"hello", "world", "x", "q", "a", "b"} and terms.prefix == "ёж2"


def test_the_last_word_stays_the_prefix_when_repeated() -> None:
    terms = search_terms("cat dog cat")
    assert terms is not None and terms.words == ("dog", "cat") and terms.prefix == "cat"


def test_queries_for_both_databases_quote_every_word_and_prefix_the_last() -> None:
    terms = SearchTerms(("red", "app"))
    assert terms.tsquery() == "'red' & 'app':*"
    assert terms.fts5_query() == '"red" "app"*'


@pytest.mark.parametrize("q", [None, "", "x" * (QUERY_MAX + 1)])
def test_missing_blank_or_long_q_is_invalid(q) -> None:
    with pytest.raises(InvalidInput) as error:
        search_terms(q)
    assert error.value.code == "invalid_q"


@pytest.mark.parametrize("q", ["!!!", "&|!:*()", "_", "'\"", "\x00", "  \t\n", "\x1c"])
def test_q_without_a_word_matches_nothing(q) -> None:
    assert search_terms(q) is None


def test_highlight_escapes_everything_but_the_marks() -> None:
    terms = SearchTerms(("b", "mar"))
    assert highlight("<b>Mark</b> & b's marker", terms) == (
        "&lt;<mark>b</mark>&gt;<mark>Mark</mark>&lt;/<mark>b</mark>&gt; &amp; <mark>b</mark>&#x27;s <mark>marker</mark>"
    )


def test_highlight_without_a_match_is_the_escaped_text() -> None:
    assert highlight('1 < 2 "ok"', SearchTerms(("zzz",))) == "1 &lt; 2 &quot;ok&quot;"

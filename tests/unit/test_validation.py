"""The contract's POST /sessions body: {"advisor_id": str, "session_id": optional 8-64 of [A-Za-z0-9_-]}."""

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.validation import check_path_session_id, parse_start_request

ALPHABET = string.ascii_letters + string.digits + "_-"
GOOD_SID = "sess_ABC-123"
GOOD_ADVISOR = "demo-advisor"

valid_session_ids = st.text(alphabet=ALPHABET, min_size=8, max_size=64)
outsiders = st.characters(codec=None).filter(lambda c: c not in ALPHABET)


@st.composite
def invalid_session_ids(draw):
    kind = draw(st.sampled_from(["short", "long", "outsider"]))
    if kind == "short":
        return draw(st.text(alphabet=ALPHABET, max_size=7))
    if kind == "long":
        return draw(st.text(alphabet=ALPHABET, min_size=65, max_size=300))
    length = draw(st.integers(8, 64))
    base = draw(st.text(alphabet=ALPHABET, min_size=length - 1, max_size=length - 1))
    at = draw(st.integers(0, length - 1))
    return base[:at] + draw(outsiders) + base[at:]


# --- accepted ---


def test_advisor_only():
    request = parse_start_request({"advisor_id": GOOD_ADVISOR})
    assert request.advisor_id == GOOD_ADVISOR
    assert request.session_id is None
    assert request.advisor_problem is None


def test_advisor_and_session_id():
    request = parse_start_request({"advisor_id": GOOD_ADVISOR, "session_id": GOOD_SID})
    assert request.advisor_id == GOOD_ADVISOR
    assert request.session_id == GOOD_SID
    assert request.advisor_problem is None


@pytest.mark.parametrize("sid", ["a" * 8, "Z" * 64, "12345678", "________", "--------", "aB3_-xY9"])
def test_session_id_bounds_and_alphabet_accepted(sid):
    assert parse_start_request({"advisor_id": GOOD_ADVISOR, "session_id": sid}).session_id == sid


@settings(max_examples=200, deadline=None)
@given(sid=valid_session_ids)
def test_any_session_id_of_the_alphabet_and_length_is_accepted(sid):
    request = parse_start_request({"advisor_id": GOOD_ADVISOR, "session_id": sid})
    assert request.session_id == sid
    assert request.advisor_id == GOOD_ADVISOR


@pytest.mark.parametrize(
    "advisor_id", ["a", "demo-advisor", "3f2b8c1e-6a4d-4f7b-9c2e-1d5a7b9e0c3f", "auth0|abc.def@x:1"]
)
def test_advisor_ids_of_other_systems_are_accepted(advisor_id):
    assert parse_start_request({"advisor_id": advisor_id}).advisor_id == advisor_id


# --- refused ---


@pytest.mark.parametrize("body", [None, [], [{"advisor_id": GOOD_ADVISOR}], "advisor", 42, 4.2, True, False])
def test_body_must_be_an_object(body):
    with pytest.raises(InvalidRequest):
        parse_start_request(body)


@pytest.mark.parametrize("body", [{}, {"advisor_id": None}, {"session_id": None}, {"other": GOOD_ADVISOR}])
def test_advisor_id_is_required(body):
    with pytest.raises(InvalidRequest):
        parse_start_request(body)


@pytest.mark.parametrize("advisor_id", [42, 4.2, True, False, [], [GOOD_ADVISOR], {}, {"id": GOOD_ADVISOR}, ""])
def test_advisor_id_of_the_wrong_type_is_refused(advisor_id):
    with pytest.raises(InvalidRequest):
        parse_start_request({"advisor_id": advisor_id})


@pytest.mark.parametrize("advisor_id", ["a b", "a/b", "../etc", "x\n", "é", "a" * 10_000, "<script>", "a;b", "\x00"])
def test_advisor_id_with_bad_characters_or_length_is_refused(advisor_id):
    with pytest.raises(InvalidRequest):
        parse_start_request({"advisor_id": advisor_id})


@pytest.mark.parametrize(
    "sid",
    [
        12345678,
        1.5,
        True,
        False,
        [GOOD_SID],
        {"id": GOOD_SID},
        "",
        "a" * 7,
        "a" * 65,
        "abcdefgh\n",
        "abcd efgh",
        "abcd.efgh",
        "abcd/efgh",
        "abcdéfgh",
        "１２３４５６７８",
        "abcdefg\x00",
    ],
)
def test_session_id_of_the_wrong_type_or_shape_is_refused(sid):
    with pytest.raises(InvalidRequest):
        parse_start_request({"advisor_id": GOOD_ADVISOR, "session_id": sid})


def test_null_session_id_never_becomes_a_key():
    # the contract: session_id is an optional string. A JSON null is either refused or means "absent";
    # it must never reach a DynamoDB key as a value.
    try:
        request = parse_start_request({"advisor_id": GOOD_ADVISOR, "session_id": None})
    except InvalidRequest:
        return
    assert request.session_id is None
    assert request.advisor_id == GOOD_ADVISOR


@settings(max_examples=300, deadline=None)
@given(sid=invalid_session_ids())
def test_any_string_outside_the_alphabet_or_length_is_refused(sid):
    with pytest.raises(InvalidRequest):
        parse_start_request({"advisor_id": GOOD_ADVISOR, "session_id": sid})


@settings(max_examples=100, deadline=None)
@given(sid=invalid_session_ids())
def test_a_bad_session_id_is_refused_even_with_a_bad_advisor(sid):
    with pytest.raises(InvalidRequest):
        parse_start_request({"advisor_id": 7, "session_id": sid})


# --- idempotency first: a repeated session_id answers whatever the rest of the body says ---


@pytest.mark.parametrize("advisor_id", [None, 42, "", "a b", [], {"x": 1}, True])
def test_bad_advisor_with_a_session_id_still_parses(advisor_id):
    body = {"session_id": GOOD_SID}
    if advisor_id is not None:
        body["advisor_id"] = advisor_id
    request = parse_start_request(body)
    assert request.session_id == GOOD_SID
    assert request.advisor_id is None
    assert isinstance(request.advisor_problem, str) and request.advisor_problem


def test_missing_advisor_with_a_session_id_reports_the_problem():
    request = parse_start_request({"session_id": GOOD_SID})
    assert request.advisor_id is None
    assert "advisor_id" in request.advisor_problem


# --- path ids ---


@settings(max_examples=100, deadline=None)
@given(sid=valid_session_ids)
def test_every_valid_session_id_is_a_valid_path_id(sid):
    assert check_path_session_id(sid) == sid


@pytest.mark.parametrize("sid", ["3f2b8c1e-6a4d-4f7b-9c2e-1d5a7b9e0c3f", "legacy:42", "a"])
def test_path_ids_of_the_previous_release_are_accepted(sid):
    # Schema-1 sessions were keyed by the previous release (UUIDs and the like).
    assert check_path_session_id(sid) == sid


@pytest.mark.parametrize(
    "sid", [None, 42, 1.5, True, [], {}, "", "a/b", "a b", "a\nb", "abcdefgh\n", "é", "%2F", "a?b", "a" * 10_000]
)
def test_bad_path_ids_are_refused(sid):
    with pytest.raises(InvalidRequest):
        check_path_session_id(sid)

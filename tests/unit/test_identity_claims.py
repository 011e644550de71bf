"""Reading the caller from the authorizer's context (api/identity.py): anything malformed is
Unauthenticated (401), never an exception that becomes a 500; app clients are checked by the
claim each kind of token names them in."""

import pytest

from chalicelib.api.identity import authorizer_claims, token_subject
from chalicelib.domain.errors import Unauthenticated

CLIENT = "4lloweDc1ient"
OTHER = "0therc1ient"


@pytest.mark.parametrize(
    "context",
    [
        "a string",
        ["a", "list"],
        {"authorizer": "a string"},
        {"authorizer": ["claims"]},
        {"authorizer": {"claims": "sub=u-alice"}},
        {"authorizer": {"claims": ["u-alice"]}},
        {"authorizer": {"claims": 7}},
    ],
    ids=[
        "context text",
        "context list",
        "authorizer text",
        "authorizer list",
        "claims text",
        "claims list",
        "claims number",
    ],
)
def test_a_context_that_is_not_objects_all_the_way_down_is_unauthenticated(context):
    with pytest.raises(Unauthenticated):
        authorizer_claims(context)


@pytest.mark.parametrize(
    "context", [None, {}, {"authorizer": None}, {"authorizer": {}}, {"authorizer": {"claims": None}}]
)
def test_no_authorizer_means_no_claims(context):
    assert authorizer_claims(context) == {}


def test_the_claims_are_passed_as_they_are():
    assert authorizer_claims({"authorizer": {"claims": {"sub": "u-alice"}}}) == {"sub": "u-alice"}


def test_without_a_list_any_client_of_the_pool_is_accepted():
    assert token_subject({"sub": "u-alice", "token_use": "id", "aud": OTHER}, frozenset()) == "u-alice"
    assert token_subject({"sub": "u-alice"}, frozenset()) == "u-alice"


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "u-alice", "token_use": "id", "aud": CLIENT},
        {"sub": "u-alice", "token_use": "access", "client_id": CLIENT},
    ],
    ids=["ID token", "access token"],
)
def test_a_listed_client_is_accepted_in_the_claim_its_token_kind_uses(claims):
    assert token_subject(claims, frozenset({CLIENT, "another"})) == "u-alice"


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "u-alice", "token_use": "id", "aud": OTHER},
        {"sub": "u-alice", "token_use": "access", "client_id": OTHER},
        # The client named in the claim the other kind of token uses does not count.
        {"sub": "u-alice", "token_use": "id", "client_id": CLIENT},
        {"sub": "u-alice", "token_use": "access", "aud": CLIENT},
        {"sub": "u-alice", "aud": CLIENT},
        {"sub": "u-alice", "token_use": "id", "aud": [CLIENT]},
        {"sub": "u-alice", "token_use": "id"},
    ],
    ids=[
        "ID token of another client",
        "access token of another client",
        "ID token naming it as client_id",
        "access token naming it as aud",
        "no token_use",
        "aud not a string",
        "no aud",
    ],
)
def test_with_a_list_any_other_token_is_refused(claims):
    with pytest.raises(Unauthenticated):
        token_subject(claims, frozenset({CLIENT}))


@pytest.mark.parametrize("token_use", ["refresh", "", ["id"], 1])
def test_a_token_of_another_use_is_refused_even_without_a_list(token_use):
    with pytest.raises(Unauthenticated):
        token_subject({"sub": "u-alice", "token_use": token_use, "aud": CLIENT}, frozenset())

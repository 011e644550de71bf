"""The in-memory store (harness/fake_store.py) and DynamoStore both have the shape of the Store
protocol the services are typed against (chalicelib/services/ports.py): every member, same
signatures."""

import inspect
import typing

import pytest

from chalicelib.services.ports import Store
from chalicelib.store.dynamo import DynamoStore
from harness.fake_store import FakeStore


def _protocol_methods():
    return sorted(
        name
        for name, member in vars(Store).items()
        if inspect.isfunction(member) and not (name.startswith("__") and name.endswith("__"))
    )


def test_the_protocol_is_read_whole():
    # A guard on the reading above: if Protocol internals change, the test must not pass empty.
    assert {"view", "read", "session", "commit_charge", "connect"} <= set(_protocol_methods())


@pytest.mark.parametrize("store", [FakeStore, DynamoStore], ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("name", _protocol_methods())
def test_each_store_has_every_method_of_the_protocol_with_its_signature(store, name):
    method = getattr(store, name, None)
    assert method is not None, f"{store.__name__} has no {name}"
    assert inspect.signature(method) == inspect.signature(getattr(Store, name)), name


def test_the_fake_declares_every_attribute_of_the_protocol():
    fake_hints = typing.get_type_hints(FakeStore)
    for name, hint in typing.get_type_hints(Store).items():
        assert fake_hints.get(name) == hint, name
    assert isinstance(FakeStore().settings, fake_hints["settings"])

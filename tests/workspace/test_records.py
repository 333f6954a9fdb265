"""The generic record store (environments, computes, endpoint records), on both backends."""

from __future__ import annotations

import pytest

from mlkube.errors import ConflictError, ResourceNotFoundError, ValidationError
from mlkube.workspace import Workspace
from tests.workspace.backends import unique


def test_record_versions_auto_increment_and_latest_is_the_highest(workspace: Workspace):
    store = workspace.records("environments")
    name = unique("env")
    first = store.create(name, {"conda": {"dependencies": ["python=3.11"]}})
    second = store.create(name, {"conda": {"dependencies": ["python=3.12"]}})
    assert (first.version, second.version) == ("1", "2")
    assert store.get(name).version == "2"
    assert store.get(name, label="latest").spec == {"conda": {"dependencies": ["python=3.12"]}}
    assert store.get(name, version="1").spec == first.spec
    assert [r.version for r in store.list(name)] == ["1", "2"]
    assert first.kind == "environments" and first.created_at is not None


def test_records_of_one_kind_are_listed_apart_from_other_kinds(workspace: Workspace):
    name = unique("shared-name")
    workspace.records("environments").create(name, {"a": 1})
    workspace.records("widgets").create(name, {"b": 2})
    assert [r.spec for r in workspace.records("widgets").list(name)] == [{"b": 2}]


def test_missing_record_names_kind_name_version_and_how_to_list(workspace: Workspace):
    store = workspace.records("environments")
    with pytest.raises(ResourceNotFoundError) as caught:
        store.get("no-such-env")
    assert "environment named 'no-such-env'" in caught.value.message
    assert "latest" in caught.value.message
    assert "mlkube environment list" in caught.value.hint
    name = unique("env")
    store.create(name, {})
    with pytest.raises(ResourceNotFoundError) as caught:
        store.get(name, version="7")
    assert f"'{name}' has no version '7'" in caught.value.message


def test_explicit_version_is_immutable_but_repeating_it_is_harmless(workspace: Workspace):
    store = workspace.records("widgets")
    name = unique("cluster")
    store.create(name, {"namespace": "a"}, version="1.0")
    assert store.create(name, {"namespace": "a"}, version="1.0").version == "1.0"
    with pytest.raises(ConflictError):
        store.create(name, {"namespace": "b"}, version="1.0")
    # Named versions do not disturb the integer sequence.
    assert store.create(name, {"namespace": "c"}).version == "1"


def test_deleted_version_is_gone_and_the_rest_remain(workspace: Workspace):
    store = workspace.records("widgets")
    name = unique("cluster")
    store.create(name, {"n": 1})
    store.create(name, {"n": 2})
    store.delete(name, "1")
    assert [r.version for r in store.list(name)] == ["2"]
    with pytest.raises(ResourceNotFoundError):
        store.delete(name, "1")


def test_spec_too_long_for_a_tag_round_trips_through_an_artifact(workspace: Workspace):
    store = workspace.records("environments")
    name = unique("big")
    spec = {"requirements": [f"package-{i}==1.0.{i}" for i in range(600)]}
    store.create(name, spec)
    assert store.get(name).spec == spec


def test_invalid_names_are_refused_with_the_rule(workspace: Workspace):
    with pytest.raises(ValidationError) as caught:
        workspace.records("environments").create("bad name/../x", {})
    assert "letters, digits" in caught.value.hint

"""Each user's catalog is worked out once per catalog version and follows every change."""

import contextlib

import pytest

from approvals.models import ToolPolicy
from approvals.policy import can_use
from tests.tools.corpus_helpers import queries
from tools import tool
from tools.catalog import catalog
from tools.registry import Registry
from tools.selection import Index


def _tool(name: str):
    def fn(x: int) -> int:
        """A tool."""
        return x

    return tool(fn, name=name)


def test_the_registry_version_changes_with_every_change_and_only_then():
    registry = Registry()
    start = registry.version
    made = registry.register(_tool("a"))
    registry.register(made)  # the same tool again: nothing changes
    assert registry.version == start + 1
    registry.unregister("missing")
    assert registry.version == start + 1
    registry.unregister("a")
    assert registry.version == start + 2
    assert registry.bump() == start + 3


@pytest.mark.django_db
def test_a_users_catalog_is_reused_until_the_registry_or_a_policy_changes(user):
    registry = Registry()
    registry.register(_tool("alpha"))
    registry.register(_tool("beta"))
    first = catalog(user, registry, can_use)
    assert [t.name for t in first.tools] == ["alpha", "beta"]
    assert catalog(user, registry, can_use) is first  # nothing changed: not worked out again
    registry.register(_tool("gamma"))
    second = catalog(user, registry, can_use)
    assert second is not first and [t.name for t in second.tools] == ["alpha", "beta", "gamma"]
    ToolPolicy.objects.create(tool_name="beta", enabled=False)  # a policy change invalidates
    assert [t.name for t in catalog(user, registry, can_use).tools] == ["alpha", "gamma"]


@pytest.mark.django_db
def test_catalogs_are_per_user(user, other_user):
    registry = Registry()
    def guarded(x: int) -> int:
        """Guarded."""
        return x

    registry.register(tool(guarded, permission="auth.view_permission"))
    other_user.is_superuser = True
    other_user.save()
    assert [t.name for t in catalog(other_user, registry, can_use).tools] == ["guarded"]
    assert catalog(user, registry, can_use).tools == ()


def test_the_ranking_finds_the_expected_tool_for_most_public_phrasings():
    from tests.tools.corpus_helpers import definitions
    from tools.errors import ToolDefinitionError

    registry = Registry()
    for _, definition in definitions():
        with contextlib.suppress(ToolDefinitionError):  # the few the corpus test shows refused
            registry.register_definition(definition, lambda **kw: kw)
    index = Index(list(registry))
    labelled = queries()
    hits = sum(q["tool"] in [t.name for t in index.search(q["query"], 16)] for q in labelled)
    assert hits / len(labelled) >= 0.85  # measured 0.95; bench/catalog.py prints it per k
    assert index.search("zzqx unknownword", 5) == []


@pytest.mark.django_db
def test_joining_a_group_changes_the_catalog_of_a_group_limited_tool_at_once(user):
    from django.contrib.auth.models import Group

    registry = Registry()
    registry.register(_tool("payroll"))
    policy = ToolPolicy.objects.create(tool_name="payroll")
    finance = Group.objects.create(name="finance")
    policy.allowed_groups.add(finance)
    assert catalog(user, registry, can_use).tools == ()
    user.groups.add(finance)
    assert [t.name for t in catalog(user, registry, can_use).tools] == ["payroll"]
    user.groups.remove(finance)
    assert catalog(user, registry, can_use).tools == ()

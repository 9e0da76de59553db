"""The registry refuses clashes, and finds tools in installed apps and entry points."""

from importlib.metadata import EntryPoint

import pytest
from django.test import override_settings

from tools import Tool, tool
from tools.errors import ToolDefinitionError
from tools.registry import ENTRY_POINT_GROUP, Registry, autodiscover, registry
from tools.validation import ValidationFailure


def _ep(name: str, target: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"tests.tools.entry_point_tools:{target}", group=ENTRY_POINT_GROUP)


@tool
def echo(text: str) -> str:
    """Echo the text."""
    return text


def test_register_and_look_up():
    reg = Registry()
    assert reg.register(echo) is echo
    assert reg.get("echo") is echo and "echo" in reg and len(reg) == 1
    assert reg.get("nope") is None and "nope" not in reg
    reg.unregister("echo")
    assert len(reg) == 0


def test_registering_the_same_tool_twice_is_harmless():
    reg = Registry()
    reg.register(echo)
    reg.register(echo)
    assert reg.names() == ["echo"]


def test_duplicate_name_fails_naming_the_tool_and_both_origins():
    reg = Registry()
    reg.register(echo)

    def other(text: str) -> str:
        """Another echo."""
        return text

    with pytest.raises(ToolDefinitionError, match=r"tool 'echo' is already registered \(by "
                                                  r"tests\.tools\.test_registry\.echo\); cannot register "
                                                  r"it again from .*other"):
        reg.register(other, name="echo")


def test_register_a_plain_function_with_options():
    reg = Registry()

    def shout(text: str) -> str:
        """Shout."""
        return text.upper()

    made = reg.register(shout, risk="medium", read_only=True)
    assert isinstance(made, Tool) and made.risk == "medium" and made.read_only


def test_options_with_an_existing_tool_are_refused_not_ignored():
    with pytest.raises(ToolDefinitionError, match=r"tool 'echo' is already a Tool; options \['risk'\]"):
        Registry().register(echo, risk="high")


def test_registry_tool_decorator_registers():
    reg = Registry()

    @reg.tool(risk="high")
    def wipe(path: str) -> None:
        """Wipe a path."""

    assert reg.get("wipe") is wipe and wipe.risk == "high"

    @reg.tool
    def plain(x: int) -> int:
        """Plain."""
        return x

    assert reg.get("plain") is plain


def test_register_definition_from_a_raw_openai_definition():
    reg = Registry()
    definition = {"type": "function", "function": {
        "name": "lookup", "description": "Look a word up.",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    }}
    made = reg.register_definition(definition, lambda word: word[::-1], risk="low")
    assert reg.get("lookup") is made
    kwargs, _ = made.validate('{"word": "abc"}')
    assert made.fn(**kwargs) == "cba"
    with pytest.raises(ValidationFailure):
        made.validate('{"word": 1}')


def test_iteration_is_sorted_by_name():
    reg = Registry()

    @reg.tool
    def zeta(x: int) -> int:
        """Z."""
        return x

    @reg.tool
    def alpha(x: int) -> int:
        """A."""
        return x

    assert [t.name for t in reg] == ["alpha", "zeta"] == reg.names()


def test_missing_fallback_is_reported():
    reg = Registry()

    @reg.tool(fallback="backup")
    def primary(x: int) -> int:
        """P."""
        return x

    with pytest.raises(ToolDefinitionError, match=r"tool 'primary': fallback tool 'backup' is not regis"):
        reg.check_fallbacks()


# -- entry points ---------------------------------------------------------------------------


def test_entry_points_register_a_tool_a_list_and_a_callable():
    reg = Registry()
    reg.load_entry_points([_ep("one", "ep_single"), _ep("many", "EP_LIST"), _ep("fn", "register_more")])
    assert reg.names() == ["ep_first", "ep_registered", "ep_second", "ep_single"]
    assert reg.get("ep_registered").risk == "medium"


def test_entry_point_that_cannot_be_loaded_names_itself():
    broken = _ep("gone", "does_not_exist")
    with pytest.raises(ToolDefinitionError, match=r"entry point 'gone' in toolgate.tools failed to load: "
                                                  r".*does_not_exist"):
        Registry().load_entry_points([broken])
    missing_module = EntryPoint(name="nomod", value="no_such_package.tools:x", group=ENTRY_POINT_GROUP)
    with pytest.raises(ToolDefinitionError, match=r"entry point 'nomod' .* failed to load: No module named"):
        Registry().load_entry_points([missing_module])


def test_entry_point_callable_that_raises_names_itself_and_the_cause():
    with pytest.raises(ToolDefinitionError, match=r"entry point 'bad' in toolgate.tools failed while "
                                                  r"registering its tools: RuntimeError: the plugin's "
                                                  r"configuration file is missing"):
        Registry().load_entry_points([_ep("bad", "register_broken")])


def test_entry_point_naming_something_else_is_refused():
    with pytest.raises(ToolDefinitionError, match=r"entry point 'num' must name a Tool, a list of Tools or "
                                                  r"a callable taking the registry; got int"):
        Registry().load_entry_points([_ep("num", "NOT_A_TOOL")])


def test_entry_point_clashing_with_a_registered_tool_names_the_entry_point():
    reg = Registry()
    reg.load_entry_points([_ep("one", "ep_single")])

    def ep_single(text: str) -> str:
        """Impostor."""
        return text

    reg2 = Registry()
    reg2.register(ep_single)
    with pytest.raises(ToolDefinitionError, match=r"entry point 'one': tool 'ep_single' is already regis"):
        reg2.load_entry_points([_ep("one", "ep_single")])


def test_load_entry_points_reads_the_installed_group_by_default(tmp_path, monkeypatch):
    # A real installed distribution (a dist-info directory on sys.path) declaring the group.
    dist = tmp_path / "toolgate_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toolgate-test-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[toolgate.tools]\nsingle = tests.tools.entry_point_tools:ep_single\n"
        "[some.other.group]\nignored = tests.tools.entry_point_tools:NOT_A_TOOL\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry()
    reg.load_entry_points()
    assert reg.names() == ["ep_single"]


# -- autodiscovery --------------------------------------------------------------------------


def test_builtin_tool_modules_are_registered_in_the_global_registry():
    from tools.builtin import calculator, clock, files, mail, notes, sandbox, sql, units, web

    for module in (calculator, clock, files, mail, notes, sandbox, sql, units, web):
        for item in module.TOOLS:
            assert registry.get(item.name) is item


def test_autodiscover_imports_tool_definitions_of_every_installed_app(settings):
    try:
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "tests.tools.discovery_app"]):
            autodiscover()
            from tests.tools.discovery_app.tool_definitions import discovered_tool

            assert registry.get("discovered_tool") is discovered_tool
    finally:
        registry.unregister("discovered_tool")

"""Targets for the entry-point tests in test_registry.py (loaded through importlib.metadata)."""

from tools import tool
from tools.definition import Tool


@tool
def ep_single(text: str) -> str:
    """Echo the text."""
    return text


@tool
def ep_first(n: int) -> int:
    """Return n."""
    return n


@tool
def ep_second(n: int) -> int:
    """Return n + 1."""
    return n + 1


EP_LIST: list[Tool] = [ep_first, ep_second]


def register_more(registry) -> None:
    @registry.tool(risk="medium")
    def ep_registered(flag: bool) -> bool:
        """Return the flag."""
        return flag


def register_broken(registry) -> None:
    raise RuntimeError("the plugin's configuration file is missing")


NOT_A_TOOL = 42

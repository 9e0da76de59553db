"""A throwaway app whose ``tool_definitions`` module autodiscovery must find."""

"""Toolgate's project package: settings, chat, LLM providers and the run loop."""

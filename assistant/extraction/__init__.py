"""Structured output extraction: validated data, not prose, pulled out of a text by a model.

A Django app (label ``extraction``) inside ``assistant`` because it drives the same model
profiles and providers as chat, and counts against the same daily budgets; its own app so
its records and migrations stay apart from the chat models. See docs/providers.md
("Structured output") and docs/api.md (``POST /api/v1/extract``).
"""

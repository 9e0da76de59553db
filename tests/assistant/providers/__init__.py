"""Tests for the LLM provider adapters."""

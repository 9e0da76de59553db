"""What a run needs beyond the loop in assistant/engine.py: attempts, fallbacks, context."""

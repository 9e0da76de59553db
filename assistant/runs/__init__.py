"""What a run needs beyond the loop in assistant/runs/engine.py: attempts, fallbacks, context."""

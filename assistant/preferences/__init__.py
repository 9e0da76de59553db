"""A user's interface choices (theme, language, the demo banner), remembered per user (issue 14)."""

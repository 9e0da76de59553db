"""A user's interface choices (theme, the demo banner), remembered per user (issue 14)."""

"""Full-text search over a user's conversations (issue 14): titles and message text."""

"""The chat's HTML pages: thin views and their forms."""

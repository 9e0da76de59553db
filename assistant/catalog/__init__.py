"""Large tool catalogs on the chat side: which tools each model turn is offered."""

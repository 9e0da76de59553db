"""What the chat sockets share beyond one connection: how many one user may hold open."""

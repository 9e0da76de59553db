"""Realtime: the chat WebSocket, and delivering a conversation's events to every socket
watching it (in-process or through Redis), with replay and per-user socket limits."""

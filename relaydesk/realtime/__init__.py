"""Realtime push to agents over WebSocket, fanned out across API processes through Redis."""

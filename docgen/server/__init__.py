"""Talking to an OpenAI-compatible server: the client, SSE, chat streams, continuation, probes."""

"""Turning streamed text into files that survive anything: partials, reply chains, documents."""

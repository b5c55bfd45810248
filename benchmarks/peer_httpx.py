"""The naive baseline: what anyone would write with httpx in twelve lines.

Usage: python peer_httpx.py BASE_URL MODEL OUTPUT
"""

from __future__ import annotations

import json
import sys

import httpx


def main(base_url: str, model: str, output: str) -> None:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "Write the document."}]}
    with (
        httpx.Client(timeout=None) as client,
        open(output, "w", encoding="utf-8") as out,
        client.stream("POST", f"{base_url}/chat/completions", json=body) as response,
    ):
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[6:])["choices"]:
                if content := choice["delta"].get("content"):
                    out.write(content)
                    out.flush()


if __name__ == "__main__":
    main(*sys.argv[1:4])

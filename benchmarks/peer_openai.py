"""The OpenAI Python SDK, streaming, writing and flushing each chunk to a file.

Usage: python peer_openai.py BASE_URL MODEL OUTPUT
"""

from __future__ import annotations

import sys

from openai import OpenAI


def main(base_url: str, model: str, output: str) -> None:
    client = OpenAI(base_url=base_url, api_key="bench", max_retries=0)
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Write the document."}],
        stream=True, stream_options={"include_usage": True},
    )
    with stream, open(output, "w", encoding="utf-8") as out:
        for chunk in stream:
            for choice in chunk.choices:
                if content := choice.delta.content:
                    out.write(content)
                    out.flush()


if __name__ == "__main__":
    main(*sys.argv[1:4])

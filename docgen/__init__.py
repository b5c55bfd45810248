"""docgen: stream long documents from any OpenAI-compatible server to disk, resumably."""

__version__ = "0.1.0"

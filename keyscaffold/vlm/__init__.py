"""Talking to vision-language models: OpenAI-compatible client, answer cache, Batch API files."""

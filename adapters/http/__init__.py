"""Driving adapter: the HTTP API (aiohttp), its OpenAPI document and live push."""

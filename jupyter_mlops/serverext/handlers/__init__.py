"""Tornado handlers: thin adapters from HTTP and websockets to the hub and store."""

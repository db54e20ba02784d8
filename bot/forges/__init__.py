"""Forge adapters behind one Protocol (bot.core.ports)."""

"""Forge adapters behind one Protocol (bot.forges.base)."""

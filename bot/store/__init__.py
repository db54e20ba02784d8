"""Redis-backed state: deliveries (dedupe), intents, group state, generations, locks.

Every key is built with ``Settings.key(...)`` so it carries the configured prefix.
"""

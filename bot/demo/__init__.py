"""``manifest-bot demo``: the whole service on one machine, no network.

``scenario.run_demo`` builds a manifest repo from ``config/examples/`` in a temporary directory,
starts the web app and a worker on Redis (``redis_env``), posts signed deliveries
(``payloads``), waits for quiescence and prints each PR branch with its diff and a summary
(``report``).
"""

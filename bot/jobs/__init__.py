"""rq entry points: ``events``, ``reconcile``, ``commands`` (thin; primitive keyword arguments)."""

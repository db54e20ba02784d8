"""The pure core: no Flask, Redis, rq or forge library is imported below this package."""

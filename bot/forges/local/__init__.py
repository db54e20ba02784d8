"""A forge made of git repositories on disk: plumbing with compare-and-swap, PRs in JSON."""

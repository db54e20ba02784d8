"""Chat-ops, pure: comment parsing, authorisation, what commands decide, reply texts."""

"""The GitLab adapter: REST v4 and the mapping of its JSON to our types."""

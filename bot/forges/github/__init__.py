"""The GitHub adapter: REST and GraphQL, App and token auth."""

"""The imperative shell: composes the pure core with forges and the store."""

"""One module per webhook source, each with verify(...) and parse(...)."""

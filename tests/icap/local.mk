# Filled in by the icap suite.

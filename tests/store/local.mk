# Filled in by the store suite.

# Filled in by the api suite.

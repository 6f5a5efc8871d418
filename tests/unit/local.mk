# Filled in by the unit suite.

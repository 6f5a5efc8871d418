# Filled in by the containers suite.

# Benchmarks of the api part.

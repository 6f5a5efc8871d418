# Benchmarks of the icap part.

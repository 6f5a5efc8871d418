# Benchmarks of the policy part.

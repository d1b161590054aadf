"""Analysis: pure functions from the results store's tables to numbers.

Modules, one concept each:

- ``tables``     — load tidy DataFrames from a store (only the columns needed, outcomes as codes);
- ``rates``      — per-step violation rates with Wilson CIs, cumulative violation, first violation;
- ``asymmetry``  — pressure effects and asymmetry between directions, run-level bootstrap CIs;
- ``survival``   — Kaplan–Meier of the first violation and log-rank tests;
- ``regression`` — logistic models with run-clustered standard errors;
- ``agreement``  — Cohen's kappa and confusion matrices between detectors and the LLM judge;
- ``synthetic``  — a store generator with known violation probabilities (tests, benchmarks).
"""

"""The forecasting domain: catalog, reference cases, the Bayesian model, the predictor, the CLI.

Nothing here imports FastAPI; pymc is imported only where fitting happens (`models.fit`).
"""

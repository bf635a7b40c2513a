"""The HTTP API: routers (`routes`), their shared dependencies and documented responses."""

API = "/v1"
"""The API's version prefix, in each router's own prefix: FastAPI keeps an included router's
routes as they were declared, so a prefix given at inclusion would be missing from the route
template that `/metrics` labels requests by."""

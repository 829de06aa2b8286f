"""The platform's own REST API under `/api` (FastAPI; described by /openapi.json)."""

"""Identity: users, groups, roles and API keys (HMAC-SHA256 hashed)."""

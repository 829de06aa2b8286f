"""Storage: users' homes and the public data area under the storage root, quotas, uploads."""

"""Shared building blocks: database, repository base, pagination, masking, crypto, HTTP."""

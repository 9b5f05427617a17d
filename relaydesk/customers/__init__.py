"""Customers: profiles, identities, typed attributes, identity resolution, merge and split."""

"""Tenants (organisations), departments and teams."""

"""End-to-end tests of tpctl, typed as a user would against a real server."""

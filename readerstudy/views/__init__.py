"""Thin views: check permission, call a selector or service, render."""

"""Drafts the SEC Form SD and Conflict Minerals Report from a filing YAML and supplier survey results."""

__version__ = "0.1.0"

"""manifest-bot: keeps GitOps manifest repositories up to date by pull request."""

__version__ = "0.1.0"

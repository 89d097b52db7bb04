"""Forge adapters: merge-request comments and commit statuses on GitHub, GitLab and Gitea."""

"""Notification adapters: telling people what happened (chat, mail, webhooks)."""

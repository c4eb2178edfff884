"""Signed outgoing webhooks per jurisdiction: configuration, signing, delivery with retries."""

"""Attachments of a person's file: photos and documents (DOMAIN.md section 1), encrypted in the database."""

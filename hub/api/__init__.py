"""The query API (../shared/CONTRACT.md section 5): one router per resource, one policy
point, audit on every read."""

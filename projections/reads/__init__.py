"""Reads of the read model, one module per resource like the API's routers, shaped as
../shared/CONTRACT.md sections 4 and 5 name them. No policy here: the API passes every
answer through :mod:`hub.policy` before it leaves."""

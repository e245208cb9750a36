"""Coordination (CONTRACT.md section 7): the rules as data (``rules.py``, the default
``default.toml``), the working-time calendar (``worktime.py``), the clocks and the notice
ladder of a thread (``clock.py``), and the projection of the coordination events
(``handlers.py``). Pure: no clock, no I/O; time is passed in."""

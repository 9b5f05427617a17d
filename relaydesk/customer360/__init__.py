"""The unified customer view: one timeline across channels and linked external events, and the
Customer 360 context panels fed by the connected systems (docs/customer360.md).

Modules: ``models`` (panel configuration, event links), ``context`` (the template context
built from a customer), ``cache`` (the panels' read cache), ``caller`` (connector calls split
into execute and record), ``panels`` (running the panels concurrently), ``service`` (panel
administration), ``timeline``, ``links`` (which customer an external event concerns) and
``consumers`` (the event consumer that fills the links).
"""

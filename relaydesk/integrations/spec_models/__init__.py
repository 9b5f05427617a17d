"""The pydantic models of a connector spec, by section.

Import them from :mod:`relaydesk.integrations.spec`, which re-exports the public ones; this
package stays free of imports so that its modules can be loaded one at a time.
"""

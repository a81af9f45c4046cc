"""Logistics: waybills bound to shipments, carrier tracking (kuaidi100 push and polling), unified states."""

"""Finance: statement import, reconciliation, the discrepancy pool, settlements, reversals, reports."""

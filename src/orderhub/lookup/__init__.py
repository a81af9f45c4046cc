"""The customers' own lookup: an order found by its number and the receiver's phone, with its parcels."""

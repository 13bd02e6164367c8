"""Planning: which customer gets which campaign when, written to the outbox."""

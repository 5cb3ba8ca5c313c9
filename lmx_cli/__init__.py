"""The lmx command: set-up steps one by one, and `lmx up` for the whole stack."""

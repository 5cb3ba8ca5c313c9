"""Certification: may this agency or landlord supply labour or housing; abuse reports."""

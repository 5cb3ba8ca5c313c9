"""The authenticated gateway: OAuth2 token endpoint, JWKS, routing, scopes, rate limits."""

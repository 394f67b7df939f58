"""A real OpenID provider for the single-sign-on tests: django-oauth-toolkit's OIDC, in its own process.

`python -m tests.support.oidc_provider PORT CONFIG.json` serves it on 127.0.0.1:PORT (issuer
http://127.0.0.1:PORT/o). CONFIG names the client (id, secret, redirect URI) and the users, each with
a password and groups; the ID token and userinfo carry `preferred_username`, `email` and `groups`.
`GET /test/mode/<mode>` makes it misbehave on purpose: `wrong-key` publishes a key that did not sign
its tokens (a bad signature), `wrong-issuer` signs tokens naming another issuer; `normal` restores it.
"""
